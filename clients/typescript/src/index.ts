/**
 * The TypeScript SDK of the Brokkr broker.
 *
 * `schema.ts` (generated from api/openapi.json by openapi-typescript, never edited by hand) holds
 * the types of every path, operation and model; this module adds a client factory that points
 * openapi-fetch at a broker's `/api/v1` and authenticates with a PAK, and a helper that turns an
 * error response into an exception.
 */
import createClient, { type Client, type ClientOptions, type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema.js";

export type { Middleware } from "openapi-fetch";
export type { components, operations, paths } from "./schema.js";

/** The API's models by name, e.g. `Schemas["Stack"]`. */
export type Schemas = components["schemas"];

/** A typed client: `client.GET("/stacks/{id}", { params: { path: { id } } })`. */
export type BrokkrClient = Client<paths>;

export interface BrokkrClientOptions extends Omit<ClientOptions, "baseUrl"> {
  /** The broker's address, e.g. `http://localhost:3000`; the client adds `/api/v1`. */
  baseUrl: string;
  /** A PAK (admin, generator or agent), sent as `Authorization: Bearer <PAK>`. */
  pak?: string;
}

/** Middleware that sends `Authorization: Bearer <pak>` with every request. */
export function bearerAuth(pak: string): Middleware {
  return {
    onRequest({ request }) {
      request.headers.set("Authorization", `Bearer ${pak}`);
      return request;
    },
  };
}

/** A client of the broker at `baseUrl`, authenticated with `pak` when given. */
export function createBrokkrClient({ baseUrl, pak, ...options }: BrokkrClientOptions): BrokkrClient {
  const client = createClient<paths>({ ...options, baseUrl: `${baseUrl.replace(/\/+$/, "")}/api/v1` });
  if (pak !== undefined) {
    client.use(bearerAuth(pak));
  }
  return client;
}

/** An answer of the broker outside 2xx; `body` is its parsed error body (`{ error: "..." }`). */
export class BrokkrApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`Brokkr API answered ${status}: ${JSON.stringify(body)}`);
    this.name = "BrokkrApiError";
  }
}

/**
 * The data of a successful call, or a `BrokkrApiError`:
 * `const stack = await ok(client.POST("/stacks", { body: { name: "web" } }));`
 */
export async function ok<T>(
  pending: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  const { data, error, response } = await pending;
  if (!response.ok) {
    throw new BrokkrApiError(response.status, error);
  }
  return data as T;
}
