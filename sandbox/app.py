"""One process serves every vendor sandbox under its own prefix, plus a control API under /control.

A client's base URL is ``http://127.0.0.1:N/<vendor>`` and the vendor's own paths follow it
unchanged, so a connector pointed at the real vendor and one pointed here differ only in the URL.
"""


from dataclasses import dataclass, field

from fastapi import APIRouter, FastAPI, HTTPException

from sandbox.acumatica import create_acumatica_app
from sandbox.acumatica import control_router as acumatica_control
from sandbox.acumatica_data import AcumaticaError, AcumaticaState
from sandbox.common import FaultMiddleware, FaultRule, RateWindow, VendorTraffic
from sandbox.procore import control_router as procore_control
from sandbox.procore import create_procore_app
from sandbox.procore_data import ProcoreState
from sandbox.quickbooks import create_quickbooks_app
from sandbox.quickbooks import control_router as quickbooks_control
from sandbox.quickbooks_data import QboFault, QuickBooksState


@dataclass
class Sandboxes:
    procore: ProcoreState = field(default_factory=ProcoreState)
    procore_rate: RateWindow = field(default_factory=lambda: RateWindow(3600, 3600, 200, 10))
    acumatica: AcumaticaState = field(default_factory=AcumaticaState)
    quickbooks: QuickBooksState = field(default_factory=QuickBooksState)
    traffic: dict[str, VendorTraffic] = field(
        default_factory=lambda: {vendor: VendorTraffic() for vendor in ("procore", "acumatica", "quickbooks")})


def create_app(sandboxes: Sandboxes | None = None) -> FastAPI:
    sandboxes = sandboxes or Sandboxes()
    app = FastAPI(title="ERP Sync vendor sandboxes")
    app.state.sandboxes = sandboxes
    vendor_apps = {"procore": create_procore_app(sandboxes.procore, sandboxes.procore_rate),
                   "acumatica": create_acumatica_app(sandboxes.acumatica),
                   "quickbooks": create_quickbooks_app(sandboxes.quickbooks)}
    for vendor, vendor_app in vendor_apps.items():
        vendor_app.add_middleware(FaultMiddleware, traffic=sandboxes.traffic[vendor])
        app.mount(f"/{vendor}", vendor_app)
    app.include_router(traffic_router(sandboxes.traffic), prefix="/control")
    app.include_router(procore_control(sandboxes.procore, sandboxes.procore_rate), prefix="/control/procore")
    app.include_router(acumatica_control(sandboxes.acumatica), prefix="/control/acumatica")
    app.include_router(quickbooks_control(sandboxes.quickbooks), prefix="/control/quickbooks")
    # The control API acts as the vendor's user, so the vendor's own refusals reach it as they are.
    for vendor_error, vendor_app in ((AcumaticaError, vendor_apps["acumatica"]), (QboFault, vendor_apps["quickbooks"])):
        app.add_exception_handler(vendor_error, vendor_app.exception_handlers[vendor_error])
    return app


def traffic_router(traffic: dict[str, VendorTraffic]) -> APIRouter:
    router = APIRouter(tags=["control: faults and calls"])

    def of(vendor: str) -> VendorTraffic:
        if vendor not in traffic:
            raise HTTPException(404, f"unknown vendor {vendor}; known: {', '.join(traffic)}")
        return traffic[vendor]

    @router.post("/{vendor}/faults", status_code=201)
    def add_fault(vendor: str, rule: FaultRule) -> FaultRule:
        of(vendor).add_fault(rule)
        return rule

    @router.get("/{vendor}/faults")
    def faults_played(vendor: str) -> dict[str, int]:
        """How many times each kind of fault was played since the last clear."""
        return dict(of(vendor).played)

    @router.delete("/{vendor}/faults", status_code=204)
    def clear_faults(vendor: str) -> None:
        of(vendor).clear()

    @router.get("/{vendor}/calls")
    def calls(vendor: str) -> dict[str, int]:
        return dict(of(vendor).calls)

    return router
