from http import HTTPStatus
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.complete_work_order_request import CompleteWorkOrderRequest
from ...models.error_body import ErrorBody
from ...models.work_order_log import WorkOrderLog
from ...models.work_order_retry_scheduled import WorkOrderRetryScheduled
from ...types import Response


def _get_kwargs(
    id: UUID,
    *,
    body: CompleteWorkOrderRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/work-orders/{id}/complete".format(
            id=quote(str(id), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json; charset=utf-8"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorBody | WorkOrderLog | WorkOrderRetryScheduled | None:
    if response.status_code == 200:
        response_200 = WorkOrderLog.from_dict(response.json())

        return response_200

    if response.status_code == 202:
        response_202 = WorkOrderRetryScheduled.from_dict(response.json())

        return response_202

    if response.status_code == 400:
        response_400 = ErrorBody.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorBody.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = ErrorBody.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = ErrorBody.from_dict(response.json())

        return response_404

    if response.status_code == 409:
        response_409 = ErrorBody.from_dict(response.json())

        return response_409

    if response.status_code == 413:
        response_413 = ErrorBody.from_dict(response.json())

        return response_413

    if response.status_code == 415:
        response_415 = ErrorBody.from_dict(response.json())

        return response_415

    if response.status_code == 422:
        response_422 = ErrorBody.from_dict(response.json())

        return response_422

    if response.status_code == 500:
        response_500 = ErrorBody.from_dict(response.json())

        return response_500

    if response.status_code == 503:
        response_503 = ErrorBody.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ErrorBody | WorkOrderLog | WorkOrderRetryScheduled]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    id: UUID,
    *,
    client: AuthenticatedClient,
    body: CompleteWorkOrderRequest,
) -> Response[ErrorBody | WorkOrderLog | WorkOrderRetryScheduled]:
    """Reports the outcome of a claimed work order (the claiming agent, or the admin). Success,
    a non-retryable failure or a failure with no retries left moves it to the log (`200`
    with the log entry); another failure schedules a retry (`202`).

    Args:
        id (UUID):
        body (CompleteWorkOrderRequest): Body of `POST /work-orders/{id}/complete`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | WorkOrderLog | WorkOrderRetryScheduled]
    """

    kwargs = _get_kwargs(
        id=id,
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    id: UUID,
    *,
    client: AuthenticatedClient,
    body: CompleteWorkOrderRequest,
) -> ErrorBody | WorkOrderLog | WorkOrderRetryScheduled | None:
    """Reports the outcome of a claimed work order (the claiming agent, or the admin). Success,
    a non-retryable failure or a failure with no retries left moves it to the log (`200`
    with the log entry); another failure schedules a retry (`202`).

    Args:
        id (UUID):
        body (CompleteWorkOrderRequest): Body of `POST /work-orders/{id}/complete`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | WorkOrderLog | WorkOrderRetryScheduled
    """

    return sync_detailed(
        id=id,
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    id: UUID,
    *,
    client: AuthenticatedClient,
    body: CompleteWorkOrderRequest,
) -> Response[ErrorBody | WorkOrderLog | WorkOrderRetryScheduled]:
    """Reports the outcome of a claimed work order (the claiming agent, or the admin). Success,
    a non-retryable failure or a failure with no retries left moves it to the log (`200`
    with the log entry); another failure schedules a retry (`202`).

    Args:
        id (UUID):
        body (CompleteWorkOrderRequest): Body of `POST /work-orders/{id}/complete`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | WorkOrderLog | WorkOrderRetryScheduled]
    """

    kwargs = _get_kwargs(
        id=id,
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    id: UUID,
    *,
    client: AuthenticatedClient,
    body: CompleteWorkOrderRequest,
) -> ErrorBody | WorkOrderLog | WorkOrderRetryScheduled | None:
    """Reports the outcome of a claimed work order (the claiming agent, or the admin). Success,
    a non-retryable failure or a failure with no retries left moves it to the log (`200`
    with the log entry); another failure schedules a retry (`202`).

    Args:
        id (UUID):
        body (CompleteWorkOrderRequest): Body of `POST /work-orders/{id}/complete`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | WorkOrderLog | WorkOrderRetryScheduled
    """

    return (
        await asyncio_detailed(
            id=id,
            client=client,
            body=body,
        )
    ).parsed
