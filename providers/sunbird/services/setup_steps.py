"""The steps before the issue call: find the root org, reserve and assign the keys, attach
the certificate template."""

from __future__ import annotations

from typing import Any

from providers.sunbird import client
from providers.sunbird.models import IssuanceRun, IssuanceStep
from providers.sunbird.services.common import StepFailed, StepResult
from providers.sunbird.services.keys import key_reserve
from providers.sunbird.services.session import _Session


def _step_find_root_org(run: IssuanceRun, step: IssuanceStep, interrupted: bool) -> StepResult:
    s = _Session(run.merchant)
    orgs = s.call(lambda t: client.org_search(s.cfg, user_token=t))
    request = {
        "method": "POST",
        "path": s.cfg.path("org_search"),
        "filters": {"isRootOrg": True, "status": "1"},
    }
    found = next((o for o in orgs if o.id == run.root_org_id), None)
    if found is None:
        raise StepFailed(
            f"{run.root_org_id} is not an active root org (org search returned "
            f"{len(orgs)} active root orgs: {', '.join(o.id for o in orgs[:10])})."
        )
    answer = {"root_orgs": len(orgs), "found": {"id": found.id, "name": found.name}}
    updates = {"root_org_name": found.name, "root_org_channel": found.channel}
    return StepResult(request=request, answer=answer, run_updates=updates)


def _step_reserve_keys(run: IssuanceRun, step: IssuanceStep, interrupted: bool) -> StepResult:
    reserved = []
    for purpose, keys in (("sign", run.sign_keys), ("enc", run.enc_keys)):
        for key_id in keys:
            r = key_reserve(
                merchant=run.merchant,
                root_org_id=run.root_org_id,
                root_org_name=run.root_org_name,
                key_id=key_id,
                purpose=purpose,
                added_by=run.created_by,
                run=run,
                comment=f"issuance run #{run.pk} ({run.course_id}/{run.batch_id})",
            )
            reserved.append(r.pk)
    return StepResult(
        request={"signKeys": run.sign_keys, "encKeys": run.enc_keys, "rootOrg": run.root_org_id},
        answer={"reserved": len(reserved)},
    )


def _step_assign_keys(run: IssuanceRun, step: IssuanceStep, interrupted: bool) -> StepResult:
    s = _Session(run.merchant)
    request = {
        "method": "PATCH",
        "path": s.cfg.path("assign_key"),
        "id": run.root_org_id,
        "signKeys": run.sign_keys,
        "encKeys": run.enc_keys,
    }
    if interrupted:
        # The last attempt may have reached Sunbird before the worker died: look first.
        current = s.call(lambda t: client.org_keys(s.cfg, org_id=run.root_org_id, user_token=t))
        if set(current["signKeys"]) == set(run.sign_keys) and set(current["encKeys"]) == set(
            run.enc_keys
        ):
            return StepResult(
                request=request,
                answer={"resumed": "keys already assigned at Sunbird; not assigned again"},
            )
    answer = s.call(
        lambda t: client.assign_keys(
            s.cfg,
            org_id=run.root_org_id,
            sign_keys=list(run.sign_keys),
            enc_keys=list(run.enc_keys),
            user_token=t,
        )
    )
    return StepResult(request=request, answer=answer)


def cert_template(run: IssuanceRun) -> dict[str, Any]:
    """The certTemplate entry of the 2.3.5 guide's content update."""
    return {
        "name": run.certificate_name,
        "issuer": {"name": run.issuer_name, "url": run.issuer_url, "publicKey": run.sign_keys},
        "signatoryList": run.signatories,
        "keys": {"id": run.sign_keys[0] if run.sign_keys else ""},
        "htmlTemplate": run.html_template_url,
        "notifyTemplate": run.notify_template,
    }


def _step_attach_template(run: IssuanceRun, step: IssuanceStep, interrupted: bool) -> StepResult:
    s = _Session(run.merchant)
    template = cert_template(run)
    answer = s.call(
        lambda t: client.content_update(
            s.cfg, course_id=run.course_id, cert_template=template, user_token=t
        )
    )
    request = {
        "method": "PATCH",
        "path": s.cfg.path("content_update", course_id=run.course_id),
        "certTemplate": {k: template[k] for k in ("name", "issuer", "htmlTemplate")},
        "signatories": len(run.signatories),
    }
    return StepResult(request=request, answer=answer)
