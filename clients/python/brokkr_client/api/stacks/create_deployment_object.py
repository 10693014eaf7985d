from http import HTTPStatus
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.create_deployment_object_request import CreateDeploymentObjectRequest
from ...models.deployment_object import DeploymentObject
from ...models.error_body import ErrorBody
from ...types import Response


def _get_kwargs(
    id: UUID,
    *,
    body: CreateDeploymentObjectRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/stacks/{id}/deployment-objects".format(
            id=quote(str(id), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json; charset=utf-8"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> DeploymentObject | ErrorBody | None:
    if response.status_code == 200:
        response_200 = DeploymentObject.from_dict(response.json())

        return response_200

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
) -> Response[DeploymentObject | ErrorBody]:
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
    body: CreateDeploymentObjectRequest,
) -> Response[DeploymentObject | ErrorBody]:
    """Stores a new deployment object: the stack's complete desired state as (multi-document)
    YAML of Kubernetes objects, or a deletion marker (admin or owning generator).

    Args:
        id (UUID):
        body (CreateDeploymentObjectRequest): Body of `POST /stacks/{id}/deployment-objects`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[DeploymentObject | ErrorBody]
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
    body: CreateDeploymentObjectRequest,
) -> DeploymentObject | ErrorBody | None:
    """Stores a new deployment object: the stack's complete desired state as (multi-document)
    YAML of Kubernetes objects, or a deletion marker (admin or owning generator).

    Args:
        id (UUID):
        body (CreateDeploymentObjectRequest): Body of `POST /stacks/{id}/deployment-objects`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        DeploymentObject | ErrorBody
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
    body: CreateDeploymentObjectRequest,
) -> Response[DeploymentObject | ErrorBody]:
    """Stores a new deployment object: the stack's complete desired state as (multi-document)
    YAML of Kubernetes objects, or a deletion marker (admin or owning generator).

    Args:
        id (UUID):
        body (CreateDeploymentObjectRequest): Body of `POST /stacks/{id}/deployment-objects`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[DeploymentObject | ErrorBody]
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
    body: CreateDeploymentObjectRequest,
) -> DeploymentObject | ErrorBody | None:
    """Stores a new deployment object: the stack's complete desired state as (multi-document)
    YAML of Kubernetes objects, or a deletion marker (admin or owning generator).

    Args:
        id (UUID):
        body (CreateDeploymentObjectRequest): Body of `POST /stacks/{id}/deployment-objects`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        DeploymentObject | ErrorBody
    """

    return (
        await asyncio_detailed(
            id=id,
            client=client,
            body=body,
        )
    ).parsed
