"""`[reports]` of the scheduler configuration: the priced events of the monthly provider
report (docs/reports.md). The national pilot paid 0.59 EUR per nominal minute of each
event type; both the price and the nominal minutes are configuration."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

EventType = Literal["walk_in", "appointment", "served", "transferred", "noshow"]
EVENT_TYPES: tuple[str, ...] = ("walk_in", "appointment", "served", "transferred", "noshow")
Minutes = Annotated[float, Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProviderPricing(_Strict):
    """`[reports.providers.<provider>]`: this provider's own price and nominal minutes."""

    price_per_min_eur: Annotated[float, Field(ge=0)] | None = None
    nominal_min: dict[EventType, Minutes] = {}


class ReportsCfg(_Strict):
    """`[reports]`: an event type is priced when it has nominal minutes (the provider's
    own, else the default); price = count x nominal minutes x price per minute."""

    price_per_min_eur: Annotated[float, Field(ge=0)] = 0.59
    nominal_min: dict[EventType, Minutes] = {}
    providers: dict[str, ProviderPricing] = {}

    def nominal(self, provider: str, event_type: str) -> float | None:
        own = self.providers.get(provider)
        if own is not None and event_type in own.nominal_min:
            return own.nominal_min[event_type]  # type: ignore[index]
        return self.nominal_min.get(event_type)  # type: ignore[call-overload]

    def price_per_min(self, provider: str) -> float:
        own = self.providers.get(provider)
        if own is not None and own.price_per_min_eur is not None:
            return own.price_per_min_eur
        return self.price_per_min_eur
