"""The Python SDK (clients/python, package brokkr_client) against a real broker and worker.

One scenario calls every operation of api/openapi.json through the generated client, with the
role that may call it (admin, generator or agent PAK), and checks for each answer:
- the status is the one expected (the client raises on a status the document does not list);
- the body parsed into the generated models (`Response.parsed`) without error, is of the
  expected model, and carries no field the document does not describe (a model's
  `additional_properties` stay empty unless its schema allows them);
and at the end that every operationId of the document was called.

Run by sdk_contract.py, which starts the stack and the webhook receiver.
"""

import datetime
import json
import re
import threading
import time
from typing import Any

import attrs
import httpx
from brokkr_client import AuthenticatedClient, Client
from brokkr_client.api.admin import list_audit_logs, reload_config
from brokkr_client.api.agent_events import get_agent_event, list_agent_events
from brokkr_client.api.agents import (add_agent_annotation, add_agent_label, add_agent_target,
                                      create_agent, create_agent_event, delete_agent, get_agent,
                                      get_agent_target_state, list_agent_annotations,
                                      list_agent_events_of_agent, list_agent_labels,
                                      list_agent_stacks, list_agent_targets, list_agents,
                                      record_agent_heartbeat, remove_agent_annotation,
                                      remove_agent_label, remove_agent_target, rotate_agent_pak,
                                      search_agents, update_agent)
from brokkr_client.api.auth import verify_pak
from brokkr_client.api.deployment_objects import get_deployment_object
from brokkr_client.api.diagnostics import (claim_diagnostic_request, create_diagnostic_request,
                                           get_diagnostic_request, list_agent_pending_diagnostics,
                                           submit_diagnostic_result)
from brokkr_client.api.generators import (create_generator, delete_generator,
                                          deregister_agent_from_generator, get_generator,
                                          list_agent_registrations,
                                          list_generator_registered_agents, list_generators,
                                          register_agent_with_generator, rotate_generator_pak,
                                          update_generator)
from brokkr_client.api.health import (get_deployment_object_health, get_stack_health,
                                      update_agent_health_status)
from brokkr_client.api.stacks import (add_stack_annotation, add_stack_label,
                                      create_deployment_object, create_stack, delete_stack,
                                      get_stack, get_stack_rollout_status,
                                      list_stack_annotations,
                                      list_stack_deployment_objects, list_stack_labels,
                                      list_stacks, remove_stack_annotation, remove_stack_label,
                                      update_stack)
from brokkr_client.api.templates import (add_template_annotation, add_template_label,
                                         create_template, delete_template, get_template,
                                         get_template_rollout, instantiate_template,
                                         list_template_annotations, list_template_labels,
                                         list_templates, remove_template_annotation,
                                         remove_template_label, start_template_rollout,
                                         update_template)
from brokkr_client.api.webhooks import (create_webhook, delete_webhook, get_webhook,
                                        get_webhook_delivery,
                                        list_agent_pending_webhook_deliveries,
                                        list_webhook_deliveries, list_webhook_event_types,
                                        list_webhooks, ping_webhook, redeliver_webhook_delivery,
                                        report_webhook_delivery_result, test_webhook,
                                        update_webhook)
from brokkr_client.api.work_orders import (claim_work_order, complete_work_order,
                                           create_work_order, delete_work_order, get_work_order,
                                           get_work_order_log_entry,
                                           list_agent_pending_work_orders, list_work_order_log,
                                           list_work_orders)
from brokkr_client.models import (AddAgentAnnotationRequest, AddAgentLabelRequest,
                                  AddAgentTargetRequest, AddStackAnnotationRequest,
                                  AddTemplateAnnotationRequest, Agent, AgentAnnotation, AgentEvent,
                                  AgentLabel, AgentPakResponse, AgentRegistration, AgentTarget,
                                  AuditLogListResponse, AuthResponse, ClaimWorkOrderRequest,
                                  CompleteWorkOrderRequest, ConfigReloadResponse,
                                  CreateAgentEventRequest, CreateAgentRequest, CreateAgentResponse,
                                  CreateDeploymentObjectRequest, CreateDiagnosticRequest,
                                  CreateGeneratorRequest, CreateStackRequest, CreateTemplateRequest,
                                  CreateWebhookRequest, CreateWorkOrderRequest,
                                  DeliveryResultRequest, DeliveryResultResponse,
                                  DeploymentHealthResponse, DeploymentObject,
                                  DeploymentObjectHealthUpdate, DiagnosticRequest,
                                  DiagnosticResponse, DiagnosticResult, Generator,
                                  GeneratorPakResponse, HealthStatusUpdate,
                                  PendingWebhookDelivery, RegistrationRequest, Stack,
                                  StackAnnotation, StackHealthResponse, StackLabel,
                                  StackRolloutStatus, StackTemplate,
                                  SubmitDiagnosticResult, TemplateAnnotation,
                                  TemplateInstantiationRequest, TemplateLabel,
                                  TemplateRollout, UpdateAgentRequest, UpdateGeneratorRequest,
                                  UpdateStackRequest, UpdateTemplateRequest, UpdateWebhookRequest,
                                  WebhookDelivery, WebhookDeliveryDetail, WebhookResponse,
                                  WebhookTestResult, WorkOrder, WorkOrderLog,
                                  WorkOrderRetryScheduled, WorkOrderTargeting)

CONFIG_MAP = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"
              "data:\n  greeting: {greeting}\n")


def snake(operation_id: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower()


class Scenario:
    def __init__(self, base: str, admin_pak: str, receiver, document: dict):
        self.base = base
        self.api = base + "/api/v1"
        self.receiver = receiver
        self.schemas = document["components"]["schemas"]
        self.operations = {snake(op["operationId"])
                           for item in document["paths"].values() for op in item.values()}
        self.called: set[str] = set()
        self.admin = self.client(admin_pak)

    def client(self, pak: str) -> AuthenticatedClient:
        return AuthenticatedClient(base_url=self.api, token=pak, raise_on_unexpected_status=True,
                                   timeout=httpx.Timeout(40.0))

    def check_documented(self, value: Any, where: str) -> None:
        """Fails on a field of a parsed model that its schema does not describe."""
        if isinstance(value, list):
            for i, item in enumerate(value):
                self.check_documented(item, f"{where}[{i}]")
        elif attrs.has(type(value)):
            name = type(value).__name__
            extra = getattr(value, "additional_properties", {})
            schema = self.schemas.get(name)
            if extra and schema is not None and not schema.get("additionalProperties"):
                raise AssertionError(f"{where}: {name} has undocumented fields {sorted(extra)}")
            for field in attrs.fields(type(value)):
                if field.name != "additional_properties":
                    self.check_documented(getattr(value, field.name), f"{where}.{field.name}")
            for key, item in extra.items():
                self.check_documented(item, f"{where}.{key}")

    def call(self, endpoint, client: Client | AuthenticatedClient, status: int, model=None,
             **kwargs) -> Any:
        """Calls endpoint.sync_detailed; checks the status and the parsed model (a model class,
        `list`, or `(list, model class)`); returns it."""
        name = endpoint.__name__.rsplit(".", 1)[1]
        self.called.add(name)
        response = endpoint.sync_detailed(client=client, **kwargs)
        assert response.status_code == status, (
            f"{name}: {response.status_code} (expected {status}): {response.content[:500]!r}")
        parsed = response.parsed
        if isinstance(model, tuple):
            assert isinstance(parsed, list), f"{name}: parsed {type(parsed).__name__}, not a list"
            for item in parsed:
                assert isinstance(item, model[1]), f"{name}: parsed {type(item).__name__}"
        elif model is not None:
            assert isinstance(parsed, model), f"{name}: parsed {type(parsed).__name__}"
        self.check_documented(parsed, name)
        self.last = response
        return parsed

    def run(self) -> None:
        admin, call = self.admin, self.call
        now = datetime.datetime.now(datetime.timezone.utc)

        # Health, outside /api/v1 and without a PAK.
        for probe in ("/healthz", "/readyz"):
            assert httpx.get(self.base + probe, timeout=10).status_code == 200, probe
        auth = call(verify_pak, admin, 200, AuthResponse)
        assert auth.admin is True

        # Generators.
        created = call(create_generator, admin, 200, GeneratorPakResponse,
                       body=CreateGeneratorRequest(name="py-ci", description="the Python SDK"))
        gen_id = created.generator.id
        call(list_generators, admin, 200, (list, Generator))
        call(get_generator, admin, 200, Generator, id=gen_id)
        updated = call(update_generator, admin, 200, Generator, id=gen_id,
                       body=UpdateGeneratorRequest(description="renamed"))
        assert updated.description == "renamed"
        rotated = call(rotate_generator_pak, admin, 200, GeneratorPakResponse, id=gen_id)
        gen = self.client(rotated.pak)
        assert call(verify_pak, gen, 200, AuthResponse).generator == str(gen_id)

        # Stacks with labels and annotations, owned by the generator.
        stack = call(create_stack, gen, 200, Stack,
                     body=CreateStackRequest(name="py-web", description="web tier"))
        call(list_stacks, gen, 200, (list, Stack))
        call(get_stack, gen, 200, Stack, id=stack.id)
        call(update_stack, gen, 200, Stack, id=stack.id,
             body=UpdateStackRequest(description="web tier, v2"))
        call(add_stack_label, gen, 200, StackLabel, id=stack.id, body="tier=web")
        call(add_stack_label, gen, 200, StackLabel, id=stack.id, body="scratch")
        labels = call(list_stack_labels, gen, 200, (list, StackLabel), id=stack.id)
        assert {label.label for label in labels} == {"tier=web", "scratch"}
        call(remove_stack_label, gen, 204, id=stack.id, label="scratch")
        call(add_stack_annotation, gen, 200, StackAnnotation, id=stack.id,
             body=AddStackAnnotationRequest(key="team", value="payments"))
        call(add_stack_annotation, gen, 200, StackAnnotation, id=stack.id,
             body=AddStackAnnotationRequest(key="scratch", value="x"))
        call(list_stack_annotations, gen, 200, (list, StackAnnotation), id=stack.id)
        call(remove_stack_annotation, gen, 204, id=stack.id, key="scratch")

        # Deployment objects.
        first = call(create_deployment_object, gen, 200, DeploymentObject, id=stack.id,
                     body=CreateDeploymentObjectRequest(
                         yaml_content=CONFIG_MAP.format(name="py-config", greeting="hello")))
        call(list_stack_deployment_objects, gen, 200, (list, DeploymentObject), id=stack.id)
        call(get_deployment_object, gen, 200, DeploymentObject, id=first.id)

        # Agents: a new one starts INACTIVE; the admin activates it.
        made = call(create_agent, admin, 200, CreateAgentResponse,
                    body=CreateAgentRequest(name="py-edge", cluster_name="py-cluster",
                                            generator_ids=[gen_id]))
        agent_id = made.agent.id
        assert made.agent.status == "INACTIVE", made.agent.status
        agent = self.client(made.initial_pak)
        assert call(verify_pak, agent, 200, AuthResponse).agent == str(agent_id)
        call(list_agents, admin, 200, (list, Agent))
        call(search_agents, admin, 200, Agent, name="py-edge", cluster_name="py-cluster")
        call(get_agent, agent, 200, Agent, id=agent_id)
        active = call(update_agent, admin, 200, Agent, id=agent_id,
                      body=UpdateAgentRequest(status="ACTIVE"))
        assert active.status == "ACTIVE"
        call(add_agent_label, admin, 200, AgentLabel, id=agent_id,
             body=AddAgentLabelRequest(label="edge"))
        call(add_agent_label, admin, 200, AgentLabel, id=agent_id, body="scratch")
        call(list_agent_labels, agent, 200, (list, AgentLabel), id=agent_id)
        call(remove_agent_label, admin, 204, id=agent_id, label="scratch")
        call(add_agent_annotation, admin, 200, AgentAnnotation, id=agent_id,
             body=AddAgentAnnotationRequest(key="region", value="eu"))
        call(list_agent_annotations, agent, 200, (list, AgentAnnotation), id=agent_id)
        call(remove_agent_annotation, admin, 204, id=agent_id, key="region")
        call(register_agent_with_generator, admin, 200, AgentRegistration, id=gen_id,
             body=RegistrationRequest(agent_id=agent_id))
        call(list_agent_registrations, agent, 200, (list, AgentRegistration), id=agent_id)
        call(list_generator_registered_agents, gen, 200, (list, Agent), id=gen_id)
        call(add_agent_target, admin, 200, AgentTarget, id=agent_id,
             body=AddAgentTargetRequest(stack_id=stack.id))
        call(list_agent_targets, agent, 200, (list, AgentTarget), id=agent_id)
        stacks = call(list_agent_stacks, agent, 200, (list, Stack), id=agent_id)
        assert [s.id for s in stacks] == [stack.id]
        call(record_agent_heartbeat, agent, 204, id=agent_id)

        # Target state: an ETag, a 304 with If-None-Match, and a long poll that answers as soon
        # as a new deployment object is posted.
        state = call(get_agent_target_state, agent, 200, (list, DeploymentObject), id=agent_id)
        assert [o.id for o in state] == [first.id]
        etag = self.last.headers["etag"]
        call(get_agent_target_state, agent, 304, id=agent_id, if_none_match=etag)
        polled = {}

        def long_poll():
            started = time.monotonic()
            polled["state"] = call(get_agent_target_state, agent, 200, (list, DeploymentObject),
                                   id=agent_id, wait=30, if_none_match=etag)
            polled["seconds"] = time.monotonic() - started

        poller = threading.Thread(target=long_poll)
        poller.start()
        time.sleep(1.5)
        second = call(create_deployment_object, gen, 200, DeploymentObject, id=stack.id,
                      body=CreateDeploymentObjectRequest(
                          yaml_content=CONFIG_MAP.format(name="py-config", greeting="again")))
        poller.join(40)
        assert [o.id for o in polled["state"]] == [second.id], polled
        assert 1.0 <= polled["seconds"] < 20, polled
        full = call(get_agent_target_state, agent, 200, (list, DeploymentObject), id=agent_id,
                    mode="full")
        assert [o.id for o in full] == [second.id]

        # Health reports, events.
        call(update_agent_health_status, agent, 200, id=agent_id, body=HealthStatusUpdate(
            deployment_objects=[DeploymentObjectHealthUpdate(id=second.id, status="healthy",
                                                             checked_at=now)]))
        health = call(get_deployment_object_health, gen, 200, DeploymentHealthResponse,
                      id=second.id)
        assert health.overall_status == "healthy", health
        call(get_stack_health, gen, 200, StackHealthResponse, id=stack.id)
        event = call(create_agent_event, agent, 200, AgentEvent, id=agent_id,
                     body=CreateAgentEventRequest(deployment_object_id=second.id,
                                                  event_type="DEPLOY", status="SUCCESS",
                                                  message="applied 1 object"))
        call(list_agent_events_of_agent, agent, 200, (list, AgentEvent), id=agent_id)
        call(list_agent_events, admin, 200, (list, AgentEvent))
        call(get_agent_event, agent, 200, AgentEvent, id=event.id)
        # The rollout of the stack's newest object, as a CI pipeline reads it (generator PAK).
        rollout_status = call(get_stack_rollout_status, gen, 200, StackRolloutStatus,
                              id=stack.id)
        assert rollout_status.deployment_object_id == second.id, rollout_status
        assert rollout_status.state == "applied", rollout_status
        assert [a.agent_id for a in rollout_status.agents] == [agent_id], rollout_status

        # Diagnostics: requested by the admin, claimed and answered by the agent.
        diagnostic = call(create_diagnostic_request, admin, 201, DiagnosticRequest, id=second.id,
                          body=CreateDiagnosticRequest(agent_id=agent_id, requested_by="py-sdk"))
        pending = call(list_agent_pending_diagnostics, agent, 200, (list, DiagnosticRequest),
                       id=agent_id)
        assert [d.id for d in pending] == [diagnostic.id]
        call(claim_diagnostic_request, agent, 200, DiagnosticRequest, id=diagnostic.id)
        call(submit_diagnostic_result, agent, 201, DiagnosticResult, id=diagnostic.id,
             body=SubmitDiagnosticResult(pod_statuses="[]", events="[]", log_tails="{}",
                                         collected_at=now))
        answered = call(get_diagnostic_request, admin, 200, DiagnosticResponse, id=diagnostic.id)
        assert answered.result is not None

        # Templates: labels and annotations, instantiation, a new version and its rollout.
        schema = json.dumps({"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string"}, "greeting": {"type": "string", "default": "hello"}}})
        template = call(create_template, gen, 201, StackTemplate, body=CreateTemplateRequest(
            name="py-config", description="one ConfigMap", parameters_schema=schema,
            template_content=CONFIG_MAP.format(name="{{ name }}", greeting="{{ greeting }}")))
        call(list_templates, gen, 200, (list, StackTemplate))
        call(get_template, gen, 200, StackTemplate, id=template.id)
        call(add_template_label, gen, 200, TemplateLabel, id=template.id, body="tier=web")
        call(add_template_label, gen, 200, TemplateLabel, id=template.id, body="scratch")
        call(list_template_labels, gen, 200, (list, TemplateLabel), id=template.id)
        call(remove_template_label, gen, 204, id=template.id, label="scratch")
        call(add_template_annotation, gen, 200, TemplateAnnotation, id=template.id,
             body=AddTemplateAnnotationRequest(key="team", value="payments"))
        call(list_template_annotations, gen, 200, (list, TemplateAnnotation), id=template.id)
        rendered = call(instantiate_template, gen, 201, DeploymentObject, id=stack.id,
                        body=TemplateInstantiationRequest(template_id=template.id,
                                                          parameters={"name": "py-templated"}))
        assert "greeting: hello" in rendered.yaml_content
        version2 = call(update_template, gen, 200, StackTemplate, id=template.id,
                        body=UpdateTemplateRequest(
                            parameters_schema=schema,
                            template_content=CONFIG_MAP.format(name="{{ name }}",
                                                               greeting="v2-{{ greeting }}")))
        assert version2.version == 2
        rollout = call(start_template_rollout, gen, 202, TemplateRollout, id=version2.id)
        deadline = time.monotonic() + 30
        while rollout.status != "completed":
            assert time.monotonic() < deadline, f"rollout still {rollout.status}"
            time.sleep(0.5)
            rollout = call(get_template_rollout, gen, 200, TemplateRollout, id=version2.id,
                           rollout_id=rollout.id)
        assert [s.status for s in rollout.stacks] == ["rendered"], rollout
        call(remove_template_annotation, gen, 204, id=version2.id, key="team")

        # Work orders: one completed, one retried, one cancelled.
        def order():
            return call(create_work_order, admin, 201, WorkOrder, body=CreateWorkOrderRequest(
                work_type="custom", yaml_content=CONFIG_MAP.format(name="job", greeting="hi"),
                targeting=WorkOrderTargeting(agent_ids=[agent_id])))

        done = order()
        call(list_work_orders, admin, 200, (list, WorkOrder))
        call(get_work_order, admin, 200, WorkOrder, id=done.id)
        offered = call(list_agent_pending_work_orders, agent, 200, (list, WorkOrder), id=agent_id)
        assert done.id in [o.id for o in offered]
        call(claim_work_order, agent, 200, WorkOrder, id=done.id,
             body=ClaimWorkOrderRequest(agent_id=agent_id))
        logged = call(complete_work_order, agent, 200, WorkOrderLog, id=done.id,
                      body=CompleteWorkOrderRequest(success=True, message="ran"))
        call(list_work_order_log, admin, 200, (list, WorkOrderLog), success=True)
        call(get_work_order_log_entry, admin, 200, WorkOrderLog, id=logged.id)
        retried = order()
        call(claim_work_order, agent, 200, WorkOrder, id=retried.id,
             body=ClaimWorkOrderRequest(agent_id=agent_id))
        call(complete_work_order, agent, 202, WorkOrderRetryScheduled, id=retried.id,
             body=CompleteWorkOrderRequest(success=False, message="try again"))
        call(delete_work_order, admin, 204, id=order().id)

        # Webhooks: one delivered by the worker (then redelivered), one by the agent.
        types = call(list_webhook_event_types, admin, 200, list)
        assert "deployment.created" in types, types
        hook = call(create_webhook, admin, 201, WebhookResponse, body=CreateWebhookRequest(
            name="py-hook", url=self.receiver.base + "/py", event_types=["deployment.created"],
            generate_secret=True))
        assert hook.secret.startswith("whsec_")
        call(get_webhook, admin, 200, WebhookResponse, id=hook.id)
        call(update_webhook, admin, 200, WebhookResponse, id=hook.id,
             body=UpdateWebhookRequest(max_retries=2))
        call(list_webhooks, admin, 200, (list, WebhookResponse))
        tested = call(test_webhook, admin, 200, WebhookTestResult, id=hook.id)
        assert tested.success, tested
        ping = call(ping_webhook, admin, 202, WebhookDelivery, id=hook.id)
        deadline = time.monotonic() + 30
        while True:
            detail = call(get_webhook_delivery, admin, 200, WebhookDeliveryDetail, id=ping.id)
            if detail.status == "success":
                break
            assert time.monotonic() < deadline, f"delivery still {detail.status}"
            time.sleep(0.5)
        call(list_webhook_deliveries, admin, 200, (list, WebhookDelivery), id=hook.id)
        call(redeliver_webhook_delivery, admin, 202, WebhookDelivery, id=ping.id)
        by_agent = call(create_webhook, admin, 201, WebhookResponse, body=CreateWebhookRequest(
            name="py-agent-hook", url=self.receiver.base + "/py-agent",
            event_types=["deployment.created"], target_labels=["edge"]))
        queued = call(ping_webhook, admin, 202, WebhookDelivery, id=by_agent.id)
        claimed = call(list_agent_pending_webhook_deliveries, agent, 200,
                       (list, PendingWebhookDelivery), id=agent_id)
        assert [d.id for d in claimed] == [queued.id], claimed
        call(report_webhook_delivery_result, agent, 200, DeliveryResultResponse, id=queued.id,
             body=DeliveryResultRequest(success=True, status_code=204, duration_ms=3))

        # Administration.
        audit = call(list_audit_logs, admin, 200, AuditLogListResponse, limit=20)
        assert audit.logs and audit.total >= len(audit.logs), audit
        call(reload_config, admin, 200, ConfigReloadResponse)

        # Tearing down, each through its own operation.
        call(delete_webhook, admin, 204, id=by_agent.id)
        call(delete_webhook, admin, 204, id=hook.id)
        call(delete_template, gen, 204, id=version2.id)
        call(remove_agent_target, admin, 204, id=agent_id, stack_id=stack.id)
        call(deregister_agent_from_generator, admin, 204, id=gen_id,
             body=RegistrationRequest(agent_id=agent_id))
        call(delete_stack, gen, 204, id=stack.id)
        call(rotate_agent_pak, admin, 200, AgentPakResponse, id=agent_id)
        call(delete_agent, admin, 204, id=agent_id)
        call(delete_generator, admin, 204, id=gen_id)

        missing = self.operations - self.called
        assert not missing, f"operations the scenario did not call: {sorted(missing)}"
        print(f"Python SDK: {len(self.called)} operations called, every answer parsed")
