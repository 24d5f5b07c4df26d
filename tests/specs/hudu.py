"""Hudu response schemas, written from the published Swagger (facts only: names and types).

Source: Hudu's Swagger 2.0 "Hudu API Documentation" as served by v2.44.0 instances, read as
`msoukhomlinov/n8n-nodes-hudu` `api-docs-v2.44.0.json` (definitions Company, Asset, Asset_Layout,
Asset_Layout_Field, Website, Relation; the responses of each path). The Swagger marks no field required and no
field nullable; real instances send nulls for empty values (api-notes B1), so every field here may be null and the
fields cwsync relies on (`id`, `name`, ...) are required. The Swagger types an asset field's `value` as boolean; real
values are strings, numbers and booleans (B3), so it is left untyped.

What each create answers, by the Swagger: POST /companies and POST /companies/{id}/assets 201 with the bare record;
POST /asset_layouts and POST /relations 201 wrapped (`{"asset_layout": …}`, `{"relation": …}`); GET/PUT of one asset
the bare record; GET/PUT of one company `{"company": …}`. POST /websites lists no success answer.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, StrictBool, StrictFloat, StrictInt, StrictStr

Number = StrictInt | StrictFloat


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class Company(_Model):
    id: StrictInt
    name: StrictStr
    slug: StrictStr | None = None
    nickname: StrictStr | None = None
    company_type: StrictStr | None = None
    address_line_1: StrictStr | None = None
    address_line_2: StrictStr | None = None
    city: StrictStr | None = None
    state: StrictStr | None = None
    zip: StrictStr | None = None
    country_name: StrictStr | None = None
    phone_number: StrictStr | None = None
    website: StrictStr | None = None
    id_number: StrictStr | None = None
    parent_company_id: StrictInt | None = None
    notes: StrictStr | None = None
    archived: StrictBool
    object_type: StrictStr | None = None
    url: StrictStr | None = None
    created_at: StrictStr | None = None
    updated_at: StrictStr | None = None
    integrations: list[dict[str, object]] | None = None


class CompanyEnvelope(_Model):
    company: Company


class CompanyList(_Model):
    companies: list[Company]


class AssetField(_Model):
    id: Number | None = None
    label: StrictStr | None = None
    value: object = None
    position: Number | None = None


class Asset(_Model):
    id: Number
    company_id: Number
    asset_layout_id: Number
    name: StrictStr
    slug: StrictStr | None = None
    primary_serial: StrictStr | None = None
    primary_mail: StrictStr | None = None
    primary_model: StrictStr | None = None
    primary_manufacturer: StrictStr | None = None
    company_name: StrictStr | None = None
    object_type: StrictStr | None = None
    asset_type: StrictStr | None = None
    archived: StrictBool
    url: StrictStr | None = None
    created_at: StrictStr | None = None
    updated_at: StrictStr | None = None
    fields: list[AssetField]
    cards: list[dict[str, object]] | None = None


class AssetList(_Model):
    assets: list[Asset]


class AssetLayoutField(_Model):
    id: StrictInt | None = None
    label: StrictStr
    field_type: StrictStr | None = None
    show_in_list: StrictBool | None = None
    required: StrictBool | None = None
    hint: StrictStr | None = None
    options: StrictStr | None = None
    position: StrictInt | None = None


class AssetLayout(_Model):
    id: StrictInt
    name: StrictStr
    slug: StrictStr | None = None
    icon: StrictStr | None = None
    color: StrictStr | None = None
    icon_color: StrictStr | None = None
    active: StrictBool | None = None
    include_passwords: StrictBool | None = None
    include_photos: StrictBool | None = None
    include_comments: StrictBool | None = None
    include_files: StrictBool | None = None
    created_at: StrictStr | None = None
    updated_at: StrictStr | None = None
    fields: list[AssetLayoutField]


class AssetLayoutEnvelope(_Model):
    asset_layout: AssetLayout


class AssetLayoutList(_Model):
    asset_layouts: list[AssetLayout]


class Website(_Model):
    id: StrictInt
    name: StrictStr
    company_id: StrictInt
    notes: StrictStr | None = None
    paused: StrictBool | None = None
    disable_dns: StrictBool | None = None
    disable_ssl: StrictBool | None = None
    disable_whois: StrictBool | None = None
    object_type: StrictStr | None = None
    company_name: StrictStr | None = None
    archived: StrictBool | None = None
    url: StrictStr | None = None


class Relation(_Model):
    id: StrictInt
    fromable_id: StrictInt
    fromable_type: StrictStr
    toable_id: StrictInt
    toable_type: StrictStr
    description: StrictStr | None = None
    is_inverse: StrictBool | None = None
    name: StrictStr | None = None


class RelationEnvelope(_Model):
    relation: Relation


class RelationList(_Model):
    relations: list[Relation]
