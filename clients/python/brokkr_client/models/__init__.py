"""Contains all the data models used in inputs/outputs"""

from .actor_kind import ActorKind
from .add_agent_annotation_request import AddAgentAnnotationRequest
from .add_agent_label_request import AddAgentLabelRequest
from .add_agent_target_request import AddAgentTargetRequest
from .add_stack_annotation_request import AddStackAnnotationRequest
from .add_template_annotation_request import AddTemplateAnnotationRequest
from .agent import Agent
from .agent_annotation import AgentAnnotation
from .agent_event import AgentEvent
from .agent_event_status import AgentEventStatus
from .agent_label import AgentLabel
from .agent_pak_response import AgentPakResponse
from .agent_registration import AgentRegistration
from .agent_rollout_status import AgentRolloutStatus
from .agent_status import AgentStatus
from .agent_target import AgentTarget
from .audit_log import AuditLog
from .audit_log_list_response import AuditLogListResponse
from .auth_response import AuthResponse
from .claim_work_order_request import ClaimWorkOrderRequest
from .complete_work_order_request import CompleteWorkOrderRequest
from .config_change import ConfigChange
from .config_reload_response import ConfigReloadResponse
from .create_agent_event_request import CreateAgentEventRequest
from .create_agent_request import CreateAgentRequest
from .create_agent_response import CreateAgentResponse
from .create_deployment_object_request import CreateDeploymentObjectRequest
from .create_diagnostic_request import CreateDiagnosticRequest
from .create_generator_request import CreateGeneratorRequest
from .create_stack_request import CreateStackRequest
from .create_template_request import CreateTemplateRequest
from .create_webhook_request import CreateWebhookRequest
from .create_work_order_request import CreateWorkOrderRequest
from .delivery_attempt import DeliveryAttempt
from .delivery_result_request import DeliveryResultRequest
from .delivery_result_response import DeliveryResultResponse
from .delivery_status import DeliveryStatus
from .deployment_health import DeploymentHealth
from .deployment_health_response import DeploymentHealthResponse
from .deployment_object import DeploymentObject
from .deployment_object_health_summary import DeploymentObjectHealthSummary
from .deployment_object_health_update import DeploymentObjectHealthUpdate
from .diagnostic_request import DiagnosticRequest
from .diagnostic_response import DiagnosticResponse
from .diagnostic_result import DiagnosticResult
from .diagnostic_status import DiagnosticStatus
from .error_body import ErrorBody
from .generator import Generator
from .generator_pak_response import GeneratorPakResponse
from .health_status import HealthStatus
from .health_status_update import HealthStatusUpdate
from .health_summary import HealthSummary
from .pending_webhook_delivery import PendingWebhookDelivery
from .pending_webhook_delivery_headers import PendingWebhookDeliveryHeaders
from .registration_request import RegistrationRequest
from .resource_health import ResourceHealth
from .rollout_state import RolloutState
from .stack import Stack
from .stack_annotation import StackAnnotation
from .stack_health_response import StackHealthResponse
from .stack_label import StackLabel
from .stack_rollout_status import StackRolloutStatus
from .stack_template import StackTemplate
from .submit_diagnostic_result import SubmitDiagnosticResult
from .template_annotation import TemplateAnnotation
from .template_error_body import TemplateErrorBody
from .template_instantiation_request import TemplateInstantiationRequest
from .template_label import TemplateLabel
from .template_rollout import TemplateRollout
from .template_rollout_stack import TemplateRolloutStack
from .template_rollout_stack_status import TemplateRolloutStackStatus
from .template_rollout_status import TemplateRolloutStatus
from .update_agent_request import UpdateAgentRequest
from .update_generator_request import UpdateGeneratorRequest
from .update_stack_request import UpdateStackRequest
from .update_template_request import UpdateTemplateRequest
from .update_webhook_request import UpdateWebhookRequest
from .webhook_delivery import WebhookDelivery
from .webhook_delivery_detail import WebhookDeliveryDetail
from .webhook_filters import WebhookFilters
from .webhook_filters_labels import WebhookFiltersLabels
from .webhook_response import WebhookResponse
from .webhook_test_result import WebhookTestResult
from .work_order import WorkOrder
from .work_order_log import WorkOrderLog
from .work_order_retry_scheduled import WorkOrderRetryScheduled
from .work_order_status import WorkOrderStatus
from .work_order_targeting import WorkOrderTargeting
from .work_order_targeting_annotations_type_0 import WorkOrderTargetingAnnotationsType0

__all__ = (
    "ActorKind",
    "AddAgentAnnotationRequest",
    "AddAgentLabelRequest",
    "AddAgentTargetRequest",
    "AddStackAnnotationRequest",
    "AddTemplateAnnotationRequest",
    "Agent",
    "AgentAnnotation",
    "AgentEvent",
    "AgentEventStatus",
    "AgentLabel",
    "AgentPakResponse",
    "AgentRegistration",
    "AgentRolloutStatus",
    "AgentStatus",
    "AgentTarget",
    "AuditLog",
    "AuditLogListResponse",
    "AuthResponse",
    "ClaimWorkOrderRequest",
    "CompleteWorkOrderRequest",
    "ConfigChange",
    "ConfigReloadResponse",
    "CreateAgentEventRequest",
    "CreateAgentRequest",
    "CreateAgentResponse",
    "CreateDeploymentObjectRequest",
    "CreateDiagnosticRequest",
    "CreateGeneratorRequest",
    "CreateStackRequest",
    "CreateTemplateRequest",
    "CreateWebhookRequest",
    "CreateWorkOrderRequest",
    "DeliveryAttempt",
    "DeliveryResultRequest",
    "DeliveryResultResponse",
    "DeliveryStatus",
    "DeploymentHealth",
    "DeploymentHealthResponse",
    "DeploymentObject",
    "DeploymentObjectHealthSummary",
    "DeploymentObjectHealthUpdate",
    "DiagnosticRequest",
    "DiagnosticResponse",
    "DiagnosticResult",
    "DiagnosticStatus",
    "ErrorBody",
    "Generator",
    "GeneratorPakResponse",
    "HealthStatus",
    "HealthStatusUpdate",
    "HealthSummary",
    "PendingWebhookDelivery",
    "PendingWebhookDeliveryHeaders",
    "RegistrationRequest",
    "ResourceHealth",
    "RolloutState",
    "Stack",
    "StackAnnotation",
    "StackHealthResponse",
    "StackLabel",
    "StackRolloutStatus",
    "StackTemplate",
    "SubmitDiagnosticResult",
    "TemplateAnnotation",
    "TemplateErrorBody",
    "TemplateInstantiationRequest",
    "TemplateLabel",
    "TemplateRollout",
    "TemplateRolloutStack",
    "TemplateRolloutStackStatus",
    "TemplateRolloutStatus",
    "UpdateAgentRequest",
    "UpdateGeneratorRequest",
    "UpdateStackRequest",
    "UpdateTemplateRequest",
    "UpdateWebhookRequest",
    "WebhookDelivery",
    "WebhookDeliveryDetail",
    "WebhookFilters",
    "WebhookFiltersLabels",
    "WebhookResponse",
    "WebhookTestResult",
    "WorkOrder",
    "WorkOrderLog",
    "WorkOrderRetryScheduled",
    "WorkOrderStatus",
    "WorkOrderTargeting",
    "WorkOrderTargetingAnnotationsType0",
)
