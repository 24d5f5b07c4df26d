"""HubSpot CRM response schemas, written from the published specs (facts only: names, types, required, enums).

Source: HubSpot's OpenAPI documents in `HubSpot/HubSpot-public-api-spec-collection` (CRM objects, associations v4,
properties, pipelines, owners; v3/v4 "legacy" paths, whose 2026-03 versions keep the same schemas, api-notes §0),
read through `hubspot-api-client` 12.0.0, generated from them: a field is required where its model's setter refuses
None (`must not be None`), and the enums are the models' `allowed_values`. Values of `properties` are strings or
null on the wire.

Every model allows unknown fields and checks types strictly.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

BatchStatus = Literal["PENDING", "PROCESSING", "CANCELED", "COMPLETE"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, populate_by_name=True)


class SimplePublicObject(_Model):
    """Required: id, properties, createdAt, updatedAt, archived."""

    id: StrictStr
    properties: dict[str, StrictStr | None]
    createdAt: StrictStr
    updatedAt: StrictStr
    archived: StrictBool
    archivedAt: StrictStr | None = None


class SimplePublicUpsertObject(SimplePublicObject):
    """A batch upsert result: the object plus `new` (required)."""

    new: StrictBool


class NextPage(_Model):
    after: StrictStr
    link: StrictStr | None = None


class ForwardPaging(_Model):
    next: NextPage | None = None


class CollectionResponse(_Model):
    """`CollectionResponseSimplePublicObjectWithAssociationsForwardPaging` (list): results required."""

    results: list[SimplePublicObject]
    paging: ForwardPaging | None = None


class SearchResponse(_Model):
    """`CollectionResponseWithTotalSimplePublicObjectForwardPaging` (search): total and results required."""

    total: StrictInt
    results: list[SimplePublicObject]
    paging: ForwardPaging | None = None


class ErrorDetail(_Model):
    """Required: message."""

    message: StrictStr
    code: StrictStr | None = None
    in_: StrictStr | None = Field(None, alias="in")
    subCategory: StrictStr | None = None


class StandardError(_Model):
    """One error of a 207 batch answer; required: status, category, message, context, errors, links."""

    status: StrictStr
    category: StrictStr
    message: StrictStr
    context: dict[str, list[StrictStr]]
    errors: list[ErrorDetail]
    links: dict[str, StrictStr]
    subCategory: object | None = None
    id: StrictStr | None = None


class BatchResponse(_Model):
    """`BatchResponseSimplePublicObject`; required: status, results, startedAt, completedAt."""

    status: BatchStatus
    results: list[SimplePublicObject]
    startedAt: StrictStr
    completedAt: StrictStr
    requestedAt: StrictStr | None = None
    links: dict[str, StrictStr] | None = None


class BatchUpsertResponse(BatchResponse):
    results: list[SimplePublicUpsertObject]  # type: ignore[assignment]


class BatchResponseWithErrors(BatchResponse):
    """`…WithErrors` (207): adds numErrors and errors."""

    numErrors: StrictInt | None = None
    errors: list[StandardError]


class Error(_Model):
    """The error body of a refusal; required: message, correlationId, category."""

    message: StrictStr
    correlationId: StrictStr
    category: StrictStr
    subCategory: StrictStr | None = None
    errors: list[ErrorDetail] | None = None
    context: dict[str, list[StrictStr]] | None = None
    links: dict[str, StrictStr] | None = None


class AssociationSpecWithLabel(_Model):
    """Required: category, typeId."""

    category: Literal["HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED"]
    typeId: StrictInt
    label: StrictStr | None = None


class MultiAssociatedObjectWithLabel(_Model):
    """Required: toObjectId, associationTypes."""

    toObjectId: StrictInt | StrictStr
    associationTypes: list[AssociationSpecWithLabel]


class PublicObjectId(_Model):
    id: StrictStr


class PublicAssociationMultiWithLabel(_Model):
    """Required: from, to."""

    from_: PublicObjectId = Field(alias="from")
    to: list[MultiAssociatedObjectWithLabel]


class AssociationBatchRead(_Model):
    """`BatchResponsePublicAssociationMultiWithLabel(WithErrors)`; required: status, results, startedAt, completedAt."""

    status: BatchStatus
    results: list[PublicAssociationMultiWithLabel]
    startedAt: StrictStr
    completedAt: StrictStr
    errors: list[StandardError] | None = None


class AssociationSpec(_Model):
    associationCategory: Literal["HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED"]
    associationTypeId: StrictInt


class PublicDefaultAssociation(_Model):
    """Required: from, to, associationSpec."""

    from_: PublicObjectId = Field(alias="from")
    to: PublicObjectId
    associationSpec: AssociationSpec


class DefaultAssociationBatch(_Model):
    """`BatchResponsePublicDefaultAssociation`; required: status, results, startedAt, completedAt."""

    status: BatchStatus
    results: list[PublicDefaultAssociation]
    startedAt: StrictStr
    completedAt: StrictStr


class Option(_Model):
    """Required: label, value, hidden."""

    label: StrictStr
    value: StrictStr
    hidden: StrictBool


class Property(_Model):
    """`Property`; required: name, label, type, fieldType, groupName, description, options."""

    name: StrictStr
    label: StrictStr
    type: StrictStr
    fieldType: StrictStr
    groupName: StrictStr
    description: StrictStr
    options: list[Option]
    hasUniqueValue: StrictBool | None = None


class PropertyCollection(_Model):
    results: list[Property]


class PipelineStage(_Model):
    """Required: id, label, displayOrder, archived, createdAt, updatedAt."""

    id: StrictStr
    label: StrictStr
    displayOrder: StrictInt
    archived: StrictBool
    createdAt: StrictStr
    updatedAt: StrictStr
    metadata: dict[str, StrictStr] | None = None


class Pipeline(_Model):
    """Required: id, label, displayOrder, stages, archived, createdAt, updatedAt."""

    id: StrictStr
    label: StrictStr
    displayOrder: StrictInt
    stages: list[PipelineStage]
    archived: StrictBool
    createdAt: StrictStr
    updatedAt: StrictStr


class PipelineCollection(_Model):
    results: list[Pipeline]


class PublicOwner(_Model):
    """Required: id, type (PERSON | QUEUE), archived, createdAt, updatedAt."""

    id: StrictStr
    type: Literal["PERSON", "QUEUE"]
    archived: StrictBool
    createdAt: StrictStr
    updatedAt: StrictStr
    email: StrictStr | None = None


class OwnerCollection(_Model):
    results: list[PublicOwner]
    paging: ForwardPaging | None = None
