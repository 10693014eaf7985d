/**
 * The TypeScript SDK of the Brokkr broker.
 *
 * `schema.ts` (generated from api/openapi.json by openapi-typescript, never edited by hand) holds
 * the types of every path, operation and model; this module adds a client factory that points
 * openapi-fetch at a broker's `/api/v1` and authenticates with a PAK, and a helper that turns an
 * error response into an exception.
 */
import createClient from "openapi-fetch";
/** Middleware that sends `Authorization: Bearer <pak>` with every request. */
export function bearerAuth(pak) {
    return {
        onRequest({ request }) {
            request.headers.set("Authorization", `Bearer ${pak}`);
            return request;
        },
    };
}
/** A client of the broker at `baseUrl`, authenticated with `pak` when given. */
export function createBrokkrClient({ baseUrl, pak, ...options }) {
    const client = createClient({ ...options, baseUrl: `${baseUrl.replace(/\/+$/, "")}/api/v1` });
    if (pak !== undefined) {
        client.use(bearerAuth(pak));
    }
    return client;
}
/** An answer of the broker outside 2xx; `body` is its parsed error body (`{ error: "..." }`). */
export class BrokkrApiError extends Error {
    status;
    body;
    constructor(status, body) {
        super(`Brokkr API answered ${status}: ${JSON.stringify(body)}`);
        this.status = status;
        this.body = body;
        this.name = "BrokkrApiError";
    }
}
/**
 * The data of a successful call, or a `BrokkrApiError`:
 * `const stack = await ok(client.POST("/stacks", { body: { name: "web" } }));`
 */
export async function ok(pending) {
    const { data, error, response } = await pending;
    if (!response.ok) {
        throw new BrokkrApiError(response.status, error);
    }
    return data;
}
