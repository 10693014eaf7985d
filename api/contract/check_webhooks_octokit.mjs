// Verifies X-Brokkr-Signature-256 of captured deliveries with GitHub's verifier,
// @octokit/webhooks-methods, and checks that a tampered body is refused.
// Input: a JSON file of [{secret, headers, body}]. Run by check_webhooks.py.
import { readFileSync } from "node:fs";
import { verify } from "@octokit/webhooks-methods";

const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
for (const { secret, headers, body, path } of cases) {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const signature = lower["x-brokkr-signature-256"];
  if (!(await verify(secret, body, signature))) {
    throw new Error(`${path}: @octokit/webhooks-methods rejects ${signature}`);
  }
  if (await verify(secret, body + " ", signature)) {
    throw new Error(`${path}: @octokit/webhooks-methods accepts a tampered body`);
  }
  console.log(`@octokit/webhooks-methods: the delivery to ${path} verifies`);
}
