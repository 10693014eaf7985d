// The TypeScript SDK (clients/typescript, package brokkr-client) against a real broker and worker.
//
// Compiled with `tsc --strict` against the installed package (so every request below is checked
// against the generated types) and run with node by sdk_contract.py, which passes the broker's
// address, the admin PAK and a webhook receiver in BROKKR_URL, BROKKR_ADMIN_PAK and RECEIVER_URL.
// One scenario calls every operation of the document with the role that may call it. A
// middleware checks every answer against the document the broker serves: the status is one the
// operation lists, and the JSON body matches its schema (types, formats, required and nullable
// fields, and no field the schema does not describe). At the end every operation must have been
// called.
import {
  BrokkrApiError,
  type BrokkrClient,
  createBrokkrClient,
  type Middleware,
  ok,
  type Schemas,
} from "brokkr-client";

declare const process: { env: Record<string, string | undefined>; exitCode?: number };

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Schema = { [key: string]: any };

const base = process.env.BROKKR_URL!;
const adminPak = process.env.BROKKR_ADMIN_PAK!;
const receiver = process.env.RECEIVER_URL!;
const CONFIG_MAP = (name: string, greeting: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  greeting: ${greeting}\n`;

const doc: Schema = await (await fetch(`${base}/docs/openapi.json`)).json();
const called = new Set<string>();
const problems: string[] = [];

function resolve(schema: Schema): Schema {
  while (schema.$ref) {
    schema = schema.$ref
      .slice(2)
      .split("/")
      .reduce((node: Schema, key: string) => node[key], doc);
  }
  return schema;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Appends to `errors` where `value` breaks `schema` (the OpenAPI 3.0 subset the document uses). */
function validate(raw: Schema, value: Json, at: string, errors: string[]): void {
  const schema = resolve(raw);
  const alternatives: Schema[] | undefined = schema.oneOf ?? schema.anyOf;
  if (alternatives) {
    const fits = alternatives.some((alt) => {
      const found: string[] = [];
      validate(alt, value, at, found);
      return found.length === 0;
    });
    if (!fits) errors.push(`${at}: ${JSON.stringify(value)} matches none of its alternatives`);
    return;
  }
  if (value === null) {
    if (!schema.nullable) errors.push(`${at}: null, and the schema is not nullable`);
    return;
  }
  for (const part of schema.allOf ?? []) validate(part, value, at, errors);
  if (schema.enum && !schema.enum.includes(value)) errors.push(`${at}: ${value} not in the enum`);
  switch (schema.type) {
    case "object": {
      if (typeof value !== "object" || Array.isArray(value)) {
        errors.push(`${at}: not an object`);
        return;
      }
      for (const key of schema.required ?? []) {
        if (!(key in value)) errors.push(`${at}: required field ${key} missing`);
      }
      const properties: Schema = schema.properties ?? {};
      for (const [key, item] of Object.entries(value)) {
        if (key in properties) validate(properties[key], item, `${at}.${key}`, errors);
        else if (typeof schema.additionalProperties === "object") {
          validate(schema.additionalProperties, item, `${at}.${key}`, errors);
        } else if (schema.additionalProperties !== true && Object.keys(properties).length > 0) {
          errors.push(`${at}: field ${key} is not in the document`);
        }
      }
      return;
    }
    case "array":
      if (!Array.isArray(value)) errors.push(`${at}: not an array`);
      else value.forEach((item, i) => validate(schema.items ?? {}, item, `${at}[${i}]`, errors));
      return;
    case "string":
      if (typeof value !== "string") errors.push(`${at}: not a string`);
      else if (schema.format === "uuid" && !UUID.test(value)) errors.push(`${at}: not a uuid`);
      else if (schema.format === "date-time" && Number.isNaN(Date.parse(value))) {
        errors.push(`${at}: not a date-time`);
      }
      return;
    case "integer":
      if (!Number.isInteger(value)) errors.push(`${at}: not an integer`);
      return;
    case "number":
      if (typeof value !== "number") errors.push(`${at}: not a number`);
      return;
    case "boolean":
      if (typeof value !== "boolean") errors.push(`${at}: not a boolean`);
      return;
  }
}

/** Checks each answer against the served document and records which operation was called. */
const conformance: Middleware = {
  async onResponse({ request, response, schemaPath }) {
    const method = request.method.toLowerCase();
    const operation: Schema = doc.paths[schemaPath][method];
    const where = `${operation.operationId} (${response.status})`;
    called.add(operation.operationId);
    const described: Schema | undefined = operation.responses[String(response.status)];
    if (!described) {
      problems.push(`${where}: the document lists no such status`);
      return undefined;
    }
    const text = await response.clone().text();
    const media = Object.entries((described.content ?? {}) as Schema)[0];
    if (!media) {
      if (text !== "") problems.push(`${where}: a body where the document describes none`);
      return undefined;
    }
    const type = response.headers.get("content-type") ?? "";
    if (!type.startsWith("application/json")) problems.push(`${where}: content type ${type}`);
    const errors: string[] = [];
    validate(media[1].schema, JSON.parse(text) as Json, operation.operationId, errors);
    problems.push(...errors.map((e) => `${where}: ${e}`));
    return undefined;
  },
};

function client(pak: string): BrokkrClient {
  const made = createBrokkrClient({ baseUrl: base, pak });
  made.use(conformance);
  return made;
}

/** The data of a call that must answer `status`. */
async function expect<T>(
  status: number,
  pending: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  const { data, error, response } = await pending;
  if (response.status !== status) {
    throw new Error(`${response.url}: ${response.status} (expected ${status}) ${JSON.stringify(error)}`);
  }
  return data as T;
}

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`check failed: ${what}`);
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(500);
  }
}

const admin = client(adminPak);
const now = new Date().toISOString();

// Health, outside /api/v1 and without a PAK.
for (const probe of ["/healthz", "/readyz"]) {
  check((await fetch(base + probe)).status === 200, probe);
}
check((await ok(admin.POST("/auth/pak"))).admin, "the admin PAK is the admin's");

// Generators.
const created = await ok(
  admin.POST("/generators", { body: { name: "ts-ci", description: "the TypeScript SDK" } }),
);
const genId = created.generator.id;
await ok(admin.GET("/generators"));
await ok(admin.GET("/generators/{id}", { params: { path: { id: genId } } }));
const renamed = await ok(
  admin.PUT("/generators/{id}", { params: { path: { id: genId } }, body: { description: "renamed" } }),
);
check(renamed.description === "renamed", "generator updated");
const rotated = await ok(admin.POST("/generators/{id}/rotate-pak", { params: { path: { id: genId } } }));
const gen = client(rotated.pak);
check((await ok(gen.POST("/auth/pak"))).generator === genId, "the generator's PAK");

// Stacks with labels and annotations.
const stack: Schemas["Stack"] = await ok(
  gen.POST("/stacks", { body: { name: "ts-web", description: "web tier" } }),
);
const onStack = { params: { path: { id: stack.id } } };
await ok(gen.GET("/stacks"));
await ok(gen.GET("/stacks/{id}", onStack));
await ok(gen.PUT("/stacks/{id}", { ...onStack, body: { description: "web tier, v2" } }));
await ok(gen.POST("/stacks/{id}/labels", { ...onStack, body: "tier=web" }));
await ok(gen.POST("/stacks/{id}/labels", { ...onStack, body: "scratch" }));
const stackLabels = await ok(gen.GET("/stacks/{id}/labels", onStack));
check(stackLabels.map((l) => l.label).sort().join() === "scratch,tier=web", "stack labels");
await expect(204, gen.DELETE("/stacks/{id}/labels/{label}", {
  params: { path: { id: stack.id, label: "scratch" } },
}));
await ok(gen.POST("/stacks/{id}/annotations", { ...onStack, body: { key: "team", value: "payments" } }));
await ok(gen.POST("/stacks/{id}/annotations", { ...onStack, body: { key: "scratch", value: "x" } }));
await ok(gen.GET("/stacks/{id}/annotations", onStack));
await expect(204, gen.DELETE("/stacks/{id}/annotations/{key}", {
  params: { path: { id: stack.id, key: "scratch" } },
}));

// Deployment objects.
const first = await ok(gen.POST("/stacks/{id}/deployment-objects", {
  ...onStack,
  body: { yaml_content: CONFIG_MAP("ts-config", "hello") },
}));
await ok(gen.GET("/stacks/{id}/deployment-objects", onStack));
await ok(gen.GET("/deployment-objects/{id}", { params: { path: { id: first.id } } }));

// Agents: a new one starts INACTIVE; the admin activates it.
const made = await ok(admin.POST("/agents", {
  body: { name: "ts-edge", cluster_name: "ts-cluster", generator_ids: [genId] },
}));
const agentId = made.agent.id;
check(made.agent.status === "INACTIVE", `a new agent is ${made.agent.status}`);
const agent = client(made.initial_pak);
const onAgent = { params: { path: { id: agentId } } };
check((await ok(agent.POST("/auth/pak"))).agent === agentId, "the agent's PAK");
await ok(admin.GET("/agents"));
await ok(admin.GET("/agents/search", { params: { query: { name: "ts-edge", cluster_name: "ts-cluster" } } }));
await ok(agent.GET("/agents/{id}", onAgent));
const activated = await ok(admin.PUT("/agents/{id}", { ...onAgent, body: { status: "ACTIVE" } }));
check(activated.status === "ACTIVE", "agent activated");
await ok(admin.POST("/agents/{id}/labels", { ...onAgent, body: { label: "ts-edge" } }));
await ok(admin.POST("/agents/{id}/labels", { ...onAgent, body: "scratch" }));
await ok(agent.GET("/agents/{id}/labels", onAgent));
await expect(204, admin.DELETE("/agents/{id}/labels/{label}", {
  params: { path: { id: agentId, label: "scratch" } },
}));
await ok(admin.POST("/agents/{id}/annotations", { ...onAgent, body: { key: "region", value: "eu" } }));
await ok(agent.GET("/agents/{id}/annotations", onAgent));
await expect(204, admin.DELETE("/agents/{id}/annotations/{key}", {
  params: { path: { id: agentId, key: "region" } },
}));
await ok(admin.POST("/generators/{id}/register", {
  params: { path: { id: genId } },
  body: { agent_id: agentId },
}));
await ok(agent.GET("/agents/{id}/registrations", onAgent));
await ok(gen.GET("/generators/{id}/registered-agents", { params: { path: { id: genId } } }));
await ok(admin.POST("/agents/{id}/targets", { ...onAgent, body: { stack_id: stack.id } }));
await ok(agent.GET("/agents/{id}/targets", onAgent));
const managed = await ok(agent.GET("/agents/{id}/stacks", onAgent));
check(managed.length === 1 && managed[0].id === stack.id, "the agent manages the stack");
await expect(204, agent.POST("/agents/{id}/heartbeat", onAgent));

// Target state: an ETag, a 304 with If-None-Match, and a long poll.
const state = await agent.GET("/agents/{id}/target-state", onAgent);
check(state.response.status === 200 && state.data?.[0]?.id === first.id, "target state");
const etag = state.response.headers.get("etag")!;
await expect(304, agent.GET("/agents/{id}/target-state", {
  params: { path: { id: agentId }, header: { "If-None-Match": etag } },
}));
const pollStarted = Date.now();
const poll = agent.GET("/agents/{id}/target-state", {
  params: { path: { id: agentId }, query: { wait: 30 }, header: { "If-None-Match": etag } },
});
await sleep(1500);
const second = await ok(gen.POST("/stacks/{id}/deployment-objects", {
  ...onStack,
  body: { yaml_content: CONFIG_MAP("ts-config", "again") },
}));
const polled = await expect(200, poll);
const pollSeconds = (Date.now() - pollStarted) / 1000;
check(polled.length === 1 && polled[0].id === second.id, "the long poll answers the new object");
check(pollSeconds >= 1 && pollSeconds < 20, `the long poll took ${pollSeconds} s`);
await ok(agent.GET("/agents/{id}/target-state", { params: { path: { id: agentId }, query: { mode: "full" } } }));

// Health reports and events.
await expect(200, agent.PATCH("/agents/{id}/health-status", {
  ...onAgent,
  body: { deployment_objects: [{ id: second.id, status: "healthy", checked_at: now }] },
}));
const health = await ok(gen.GET("/deployment-objects/{id}/health", { params: { path: { id: second.id } } }));
check(health.overall_status === "healthy", "object health");
await ok(gen.GET("/stacks/{id}/health", onStack));
const event = await ok(agent.POST("/agents/{id}/events", {
  ...onAgent,
  body: { deployment_object_id: second.id, event_type: "DEPLOY", status: "SUCCESS", message: "applied" },
}));
await ok(agent.GET("/agents/{id}/events", onAgent));
await ok(admin.GET("/agent-events"));
await ok(agent.GET("/agent-events/{id}", { params: { path: { id: event.id } } }));
// The rollout of the stack's newest object, as a CI pipeline reads it (generator PAK).
const rolloutStatus = await ok(gen.GET("/stacks/{id}/rollout", { params: { path: { id: stack.id } } }));
check(rolloutStatus.deployment_object_id === second.id, "the rollout shows the newest object");
check(rolloutStatus.state === "applied", "the agent's success makes the rollout applied");
check(rolloutStatus.agents.map((a) => a.agent_id).join() === agentId, "the rollout lists the agent");

// Diagnostics.
const diagnostic = await expect(201, admin.POST("/deployment-objects/{id}/diagnostics", {
  params: { path: { id: second.id } },
  body: { agent_id: agentId, requested_by: "ts-sdk" },
}));
const onDiagnostic = { params: { path: { id: diagnostic.id } } };
const pendingDiagnostics = await ok(agent.GET("/agents/{id}/diagnostics/pending", onAgent));
check(pendingDiagnostics.map((d) => d.id).join() === diagnostic.id, "pending diagnostics");
await ok(agent.POST("/diagnostics/{id}/claim", onDiagnostic));
await expect(201, agent.POST("/diagnostics/{id}/result", {
  ...onDiagnostic,
  body: { pod_statuses: "[]", events: "[]", log_tails: "{}", collected_at: now },
}));
check((await ok(admin.GET("/diagnostics/{id}", onDiagnostic))).result != null, "diagnostic result");

// Templates.
const parametersSchema = JSON.stringify({
  type: "object",
  required: ["name"],
  properties: { name: { type: "string" }, greeting: { type: "string", default: "hello" } },
});
const template = await expect(201, gen.POST("/templates", {
  body: {
    name: "ts-config",
    description: "one ConfigMap",
    parameters_schema: parametersSchema,
    template_content: CONFIG_MAP("{{ name }}", "{{ greeting }}"),
  },
}));
const onTemplate = { params: { path: { id: template.id } } };
await ok(gen.GET("/templates"));
await ok(gen.GET("/templates/{id}", onTemplate));
await ok(gen.POST("/templates/{id}/labels", { ...onTemplate, body: "tier=web" }));
await ok(gen.POST("/templates/{id}/labels", { ...onTemplate, body: "scratch" }));
await ok(gen.GET("/templates/{id}/labels", onTemplate));
await expect(204, gen.DELETE("/templates/{id}/labels/{label}", {
  params: { path: { id: template.id, label: "scratch" } },
}));
await ok(gen.POST("/templates/{id}/annotations", { ...onTemplate, body: { key: "team", value: "payments" } }));
await ok(gen.GET("/templates/{id}/annotations", onTemplate));
const rendered = await expect(201, gen.POST("/stacks/{id}/deployment-objects/from-template", {
  ...onStack,
  body: { template_id: template.id, parameters: { name: "ts-templated" } },
}));
check(rendered.yaml_content.includes("greeting: hello"), "defaults applied");
const version2 = await ok(gen.PUT("/templates/{id}", {
  ...onTemplate,
  body: { parameters_schema: parametersSchema, template_content: CONFIG_MAP("{{ name }}", "v2-{{ greeting }}") },
}));
check(version2.version === 2, "a new template version");
const started = await expect(202, gen.POST("/templates/{id}/rollout", { params: { path: { id: version2.id } } }));
const rollout = await until("the rollout", async () => {
  const seen = await ok(gen.GET("/templates/{id}/rollouts/{rollout_id}", {
    params: { path: { id: version2.id, rollout_id: started.id } },
  }));
  return seen.status === "completed" ? seen : undefined;
});
check(rollout.stacks.map((s) => s.status).join() === "rendered", "the rollout re-rendered the stack");
await expect(204, gen.DELETE("/templates/{id}/annotations/{key}", {
  params: { path: { id: version2.id, key: "team" } },
}));

// Work orders: one completed, one retried, one cancelled.
const order = () =>
  expect(201, admin.POST("/work-orders", {
    body: { work_type: "custom", yaml_content: CONFIG_MAP("job", "hi"), targeting: { agent_ids: [agentId] } },
  }));
const done = await order();
await ok(admin.GET("/work-orders"));
await ok(admin.GET("/work-orders/{id}", { params: { path: { id: done.id } } }));
const offered = await ok(agent.GET("/agents/{id}/work-orders/pending", onAgent));
check(offered.some((o) => o.id === done.id), "the order is offered");
await ok(agent.POST("/work-orders/{id}/claim", { params: { path: { id: done.id } }, body: { agent_id: agentId } }));
const logged = await expect(200, agent.POST("/work-orders/{id}/complete", {
  params: { path: { id: done.id } },
  body: { success: true, message: "ran" },
}));
check("id" in logged, "a log entry");
await ok(admin.GET("/work-order-log", { params: { query: { success: true } } }));
await ok(admin.GET("/work-order-log/{id}", { params: { path: { id: done.id } } }));
const retried = await order();
await ok(agent.POST("/work-orders/{id}/claim", { params: { path: { id: retried.id } }, body: { agent_id: agentId } }));
await expect(202, agent.POST("/work-orders/{id}/complete", {
  params: { path: { id: retried.id } },
  body: { success: false, message: "try again" },
}));
const cancelled = await order();
await expect(204, admin.DELETE("/work-orders/{id}", { params: { path: { id: cancelled.id } } }));

// Webhooks: one delivered by the worker (then redelivered), one by the agent.
const types = await ok(admin.GET("/webhooks/event-types"));
check(types.includes("deployment.created"), "event types");
const hook = await expect(201, admin.POST("/webhooks", {
  body: { name: "ts-hook", url: `${receiver}/ts`, event_types: ["deployment.created"], generate_secret: true },
}));
check(hook.secret?.startsWith("whsec_") === true, "a generated secret");
const onHook = { params: { path: { id: hook.id } } };
await ok(admin.GET("/webhooks/{id}", onHook));
await ok(admin.PUT("/webhooks/{id}", { ...onHook, body: { max_retries: 2 } }));
await ok(admin.GET("/webhooks"));
check((await ok(admin.POST("/webhooks/{id}/test", onHook))).success, "test delivery");
const ping = await expect(202, admin.POST("/webhooks/{id}/ping", onHook));
await until("the delivery", async () => {
  const seen = await ok(admin.GET("/webhook-deliveries/{id}", { params: { path: { id: ping.id } } }));
  return seen.status === "success" ? seen : undefined;
});
await ok(admin.GET("/webhooks/{id}/deliveries", { ...onHook, params: { ...onHook.params, query: { limit: 10 } } }));
await expect(202, admin.POST("/webhook-deliveries/{id}/redeliver", { params: { path: { id: ping.id } } }));
const byAgent = await expect(201, admin.POST("/webhooks", {
  body: { name: "ts-agent-hook", url: `${receiver}/ts-agent`, event_types: ["deployment.created"], target_labels: ["ts-edge"] },
}));
const queued = await expect(202, admin.POST("/webhooks/{id}/ping", { params: { path: { id: byAgent.id } } }));
const claimed = await ok(agent.GET("/agents/{id}/webhooks/pending", onAgent));
check(claimed.map((d) => d.id).join() === queued.id, "the agent claims the delivery");
await ok(agent.POST("/webhook-deliveries/{id}/result", {
  params: { path: { id: queued.id } },
  body: { success: true, status_code: 204, duration_ms: 3 },
}));

// Administration.
const audit = await ok(admin.GET("/admin/audit-logs", { params: { query: { limit: 20 } } }));
check(audit.logs.length > 0, "audit entries");
await ok(admin.POST("/admin/config/reload"));

// Tearing down.
await expect(204, admin.DELETE("/webhooks/{id}", { params: { path: { id: byAgent.id } } }));
await expect(204, admin.DELETE("/webhooks/{id}", onHook));
await expect(204, gen.DELETE("/templates/{id}", { params: { path: { id: version2.id } } }));
await expect(204, admin.DELETE("/agents/{id}/targets/{stack_id}", {
  params: { path: { id: agentId, stack_id: stack.id } },
}));
await expect(204, admin.DELETE("/generators/{id}/register", {
  params: { path: { id: genId } },
  body: { agent_id: agentId },
}));
await expect(204, gen.DELETE("/stacks/{id}", onStack));
try {
  await ok(gen.GET("/stacks/{id}", onStack));
  throw new Error("a deleted stack was found");
} catch (error) {
  check(error instanceof BrokkrApiError && error.status === 404, `reading a deleted stack: ${error}`);
}
await ok(admin.POST("/agents/{id}/rotate-pak", onAgent));
await expect(204, admin.DELETE("/agents/{id}", onAgent));
await expect(204, admin.DELETE("/generators/{id}", { params: { path: { id: genId } } }));

const operations: string[] = Object.values(doc.paths as Schema).flatMap((item) =>
  Object.values(item as Schema).map((op) => (op as Schema).operationId as string),
);
const missing = operations.filter((id) => !called.has(id));
if (missing.length > 0) problems.push(`operations the scenario did not call: ${missing.join(", ")}`);
if (problems.length > 0) {
  console.error(problems.join("\n"));
  process.exitCode = 1;
} else {
  console.log(`TypeScript SDK: ${called.size} operations called, every answer conforms to the document`);
}
