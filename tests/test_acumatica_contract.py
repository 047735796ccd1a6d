"""Every Acumatica entity and field name that the connector and the sandbox use is one that Acumatica's
published Default/24.200.001 description has.

The facts live in ``sandbox/contracts/acumatica_default_24.200.001.json``, written from the OpenAPI
description Acumatica publishes in ``Acumatica/AcumaticaRESTAPIClientForCSharp``
(``EndpointDefinitions/Default_24.200.001``). Acumatica drops a field its contract does not have
without an error, so a wrong name would only show on a real instance; these tests catch it here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from sandbox.acumatica_data import CONTRACT, ENTITIES, KEYS

ROOT = Path(__file__).resolve().parents[1]
USERS_OF_THE_CONTRACT = ("plugins/erp_connectors/acumatica.py", "src/erp_sync/erps/acumatica.py",
                         "sandbox/acumatica.py", "sandbox/acumatica_data.py")
IDENTIFIER = re.compile(r"^[A-Z][A-Za-z0-9]*$")
# Capitalised words in those modules that are not names of the contract: HTTP methods and headers,
# the endpoint's name, values of Status/Type/PaymentMethod fields, and the sandbox's demo data.
NOT_NAMES = {"GET", "PUT", "POST", "DELETE", "Location", "Locale", "Default", "Success",
             "Active", "Open", "Closed", "Balanced", "Canceled", "Completed", "Rejected", "Reversed", "Reversing",
             "Voided", "Bill", "Payment", "CHECK",
             "Inactive", "Summit", "APEXCON", "BRIGHTEL", "CASCPLUM", "DELTASTL", "EVERDRY", "GRANITE", "GRANITEINC",
             "STARFRM", "SUMROOF", "GENERAL", "Z"}


def contract_names() -> set[str]:
    names = {"Entity", *CONTRACT["value_types"], *CONTRACT["operations"]}
    for parameters in CONTRACT["action_parameters"].values():  # an action's parameters (ReleaseRetainageParameters)
        names |= set(parameters)
    for entity, published in CONTRACT["entities"].items():
        names |= {entity, *published["fields"], *published["actions"]}
        for detail, spec in published.get("details", {}).items():
            names |= {detail, spec["schema"], *spec["fields"]}
    return names


def capitalised_strings(path: Path) -> set[str]:
    """String constants (and comma-separated lists such as ``$select`` values) that read as names,
    leaving docstrings out."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return {token for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
            for token in node.value.split(",") if IDENTIFIER.match(token)}


@pytest.mark.parametrize("module", USERS_OF_THE_CONTRACT)
def test_every_name_the_module_uses_is_in_the_published_contract(module):
    unknown = capitalised_strings(ROOT / module) - contract_names() - NOT_NAMES
    assert not unknown, f"{module} uses names that Default/24.200.001 does not have: {sorted(unknown)}"


def test_the_facts_that_were_wrong_before_stay_right():
    entities = CONTRACT["entities"]
    subcontract = entities["Subcontract"]
    assert "VendorID" in subcontract["fields"] and not {"Vendor", "Hold"} & set(subcontract["fields"])
    assert subcontract["details"]["Details"]["fields"]["ExtendedCost"] == "DecimalValue"
    commitments = entities["ChangeOrder"]["details"]["Commitments"]
    assert "PONbr" in commitments["fields"] and "PONumber" not in commitments["fields"]
    assert "OriginalCORefNbr" in entities["ChangeOrder"]["fields"]
    schemas = {entity: [spec["schema"] for spec in published.get("details", {}).values()]
               for entity, published in entities.items()}
    assert schemas == {"Vendor": [], "Subcontract": ["SubcontractDetail"], "ChangeOrder": ["ChangeOrderCommitment"],
                       "Bill": ["BillDetail"], "Check": ["CheckDetail"], "Project": [], "CostCode": [],
                       "AccountGroup": [], "ProjectTask": []}
    assert "DefaultAccountID" in entities["AccountGroup"]["fields"]  # the account a cost type's lines post to
    assert {"ProjectID", "ProjectTaskID", "Status"} <= set(entities["ProjectTask"]["fields"])  # a sub job's task
    assert entities["ProjectTask"]["fields"]["Default"] == "BooleanValue"  # the project's task for no sub job
    assert {"GetByKeys", "DeleteByKeys", "GetAdHocSchema", "PutFile", "InvokeAction_CustomAction"} <= set(
        CONTRACT["operations"])


def test_the_sandbox_serves_exactly_the_published_entities_with_their_keys_among_their_fields():
    assert set(ENTITIES) == set(CONTRACT["entities"]) == set(KEYS)
    for name, spec in ENTITIES.items():
        assert set(spec.keys) <= set(spec.fields), name
        assert set(spec.served_actions) <= set(spec.actions), name
        assert spec.vendor_field is None or spec.vendor_field in spec.fields, name
