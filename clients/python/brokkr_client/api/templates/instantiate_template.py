from http import HTTPStatus
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.deployment_object import DeploymentObject
from ...models.error_body import ErrorBody
from ...models.template_error_body import TemplateErrorBody
from ...models.template_instantiation_request import TemplateInstantiationRequest
from ...types import Response


def _get_kwargs(
    id: UUID,
    *,
    body: TemplateInstantiationRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/stacks/{id}/deployment-objects/from-template".format(
            id=quote(str(id), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json; charset=utf-8"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> DeploymentObject | ErrorBody | TemplateErrorBody | None:
    if response.status_code == 201:
        response_201 = DeploymentObject.from_dict(response.json())

        return response_201

    if response.status_code == 400:
        response_400 = TemplateErrorBody.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = TemplateErrorBody.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = TemplateErrorBody.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = TemplateErrorBody.from_dict(response.json())

        return response_404

    if response.status_code == 409:
        response_409 = TemplateErrorBody.from_dict(response.json())

        return response_409

    if response.status_code == 413:
        response_413 = ErrorBody.from_dict(response.json())

        return response_413

    if response.status_code == 415:
        response_415 = ErrorBody.from_dict(response.json())

        return response_415

    if response.status_code == 422:
        response_422 = TemplateErrorBody.from_dict(response.json())

        return response_422

    if response.status_code == 500:
        response_500 = TemplateErrorBody.from_dict(response.json())

        return response_500

    if response.status_code == 503:
        response_503 = TemplateErrorBody.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[DeploymentObject | ErrorBody | TemplateErrorBody]:
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
    body: TemplateInstantiationRequest,
) -> Response[DeploymentObject | ErrorBody | TemplateErrorBody]:
    """Renders the latest version of a template with `parameters` into a new deployment object
    of the stack (admin, or the generator owning the stack with a template it may read).
    The template's labels and annotations must all be on the stack (422 with
    `missing_labels` and `missing_annotations`); the parameters must satisfy the schema after
    its defaults are applied (400 with `validation_errors`).

    Args:
        id (UUID):
        body (TemplateInstantiationRequest): Body of `POST /stacks/{id}/deployment-objects/from-
            template`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[DeploymentObject | ErrorBody | TemplateErrorBody]
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
    body: TemplateInstantiationRequest,
) -> DeploymentObject | ErrorBody | TemplateErrorBody | None:
    """Renders the latest version of a template with `parameters` into a new deployment object
    of the stack (admin, or the generator owning the stack with a template it may read).
    The template's labels and annotations must all be on the stack (422 with
    `missing_labels` and `missing_annotations`); the parameters must satisfy the schema after
    its defaults are applied (400 with `validation_errors`).

    Args:
        id (UUID):
        body (TemplateInstantiationRequest): Body of `POST /stacks/{id}/deployment-objects/from-
            template`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        DeploymentObject | ErrorBody | TemplateErrorBody
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
    body: TemplateInstantiationRequest,
) -> Response[DeploymentObject | ErrorBody | TemplateErrorBody]:
    """Renders the latest version of a template with `parameters` into a new deployment object
    of the stack (admin, or the generator owning the stack with a template it may read).
    The template's labels and annotations must all be on the stack (422 with
    `missing_labels` and `missing_annotations`); the parameters must satisfy the schema after
    its defaults are applied (400 with `validation_errors`).

    Args:
        id (UUID):
        body (TemplateInstantiationRequest): Body of `POST /stacks/{id}/deployment-objects/from-
            template`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[DeploymentObject | ErrorBody | TemplateErrorBody]
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
    body: TemplateInstantiationRequest,
) -> DeploymentObject | ErrorBody | TemplateErrorBody | None:
    """Renders the latest version of a template with `parameters` into a new deployment object
    of the stack (admin, or the generator owning the stack with a template it may read).
    The template's labels and annotations must all be on the stack (422 with
    `missing_labels` and `missing_annotations`); the parameters must satisfy the schema after
    its defaults are applied (400 with `validation_errors`).

    Args:
        id (UUID):
        body (TemplateInstantiationRequest): Body of `POST /stacks/{id}/deployment-objects/from-
            template`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        DeploymentObject | ErrorBody | TemplateErrorBody
    """

    return (
        await asyncio_detailed(
            id=id,
            client=client,
            body=body,
        )
    ).parsed
