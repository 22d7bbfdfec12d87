// A create → preview → confirm → apply → undo session through the official TypeScript MCP SDK
// client, over stdio or streamable HTTP, on either protocol revision:
//   TS_SDK=v1 (default): @modelcontextprotocol/sdk, the v1 line, initialize with 2025-11-25;
//   TS_SDK=v2: @modelcontextprotocol/client, the v2 line, pinned to 2026-07-28 (stateless).
// Both are pinned in tests/src/node.rs and .ci/run. Run by tests/tests/client_sessions.rs;
// every step's result is checked here and the script exits 1 naming the step that failed.
//
//   node ts-session.mjs stdio PFSENSE_MCP_BINARY [SERVER_ARGS...]
//   node ts-session.mjs http URL            (bearer token in MCP_BEARER_TOKEN)
//
// NPM_TOOLS names the directory the SDK was installed into (target/npm-tools): this file lives
// in the repository, the SDK does not.
//
// The client declares elicitation and approves every confirmation form it is shown, as a person
// ticking "approve" would; the number of forms is printed for the test to check.

import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [transportKind, target, ...serverArgs] = process.argv.slice(2);
const line = process.env.TS_SDK ?? "v1";
if (!["stdio", "http"].includes(transportKind) || !target || !process.env.NPM_TOOLS || !["v1", "v2"].includes(line)) {
  console.error("usage: NPM_TOOLS=DIR [TS_SDK=v1|v2] node ts-session.mjs stdio BINARY [ARGS...] | http URL");
  process.exit(2);
}
const modules = join(process.env.NPM_TOOLS, "node_modules/@modelcontextprotocol");
const load = (file) => import(pathToFileURL(join(modules, file)).href);
const MODERN = "2026-07-28";

let Client, StdioClientTransport, StreamableHTTPClientTransport, expectedVersion;
const capabilities = { elicitation: { form: {} } };
let clientOptions;
let onElicit;
if (line === "v1") {
  ({ Client } = await load("sdk/dist/esm/client/index.js"));
  ({ StdioClientTransport } = await load("sdk/dist/esm/client/stdio.js"));
  ({ StreamableHTTPClientTransport } = await load("sdk/dist/esm/client/streamableHttp.js"));
  const { ElicitRequestSchema, LATEST_PROTOCOL_VERSION } = await load("sdk/dist/esm/types.js");
  expectedVersion = LATEST_PROTOCOL_VERSION;
  clientOptions = { capabilities };
  onElicit = (client, handler) => client.setRequestHandler(ElicitRequestSchema, handler);
} else {
  ({ Client, StreamableHTTPClientTransport } = await load("client/dist/index.mjs"));
  ({ StdioClientTransport } = await load("client/dist/stdio.mjs"));
  expectedVersion = MODERN;
  clientOptions = { capabilities, versionNegotiation: { mode: { pin: MODERN } } };
  onElicit = (client, handler) => client.setRequestHandler("elicitation/create", handler);
}

const ALIAS = `ts_${line}_${transportKind}_${process.pid}`;
const ALIASES_TOOL = "pfsense_list_firewall_aliases";

function fail(step, message, result) {
  console.error(`ts-session ${transportKind}: step '${step}' failed: ${message}`);
  if (result) console.error(JSON.stringify(result, null, 2).slice(0, 4000));
  process.exit(1);
}

function text(result) {
  return (result.content ?? [])
    .filter((c) => c.type === "text")
    .map((c) => c.text)
    .join("\n");
}

const asked = [];
const client = new Client({ name: "pfsense-mcp-ts-session", version: "1.0.0" }, clientOptions);
onElicit(client, async (request) => {
  asked.push(request.params.message);
  const props = Object.keys(request.params.requestedSchema?.properties ?? {});
  if (!props.includes("approve")) return { action: "decline" };
  return { action: "accept", content: { approve: true } };
});

let transport;
if (transportKind === "stdio") {
  transport = new StdioClientTransport({
    command: target,
    args: serverArgs,
    env: { ...process.env },
    stderr: "inherit",
  });
} else {
  const token = process.env.MCP_BEARER_TOKEN;
  transport = new StreamableHTTPClientTransport(new URL(target), {
    requestInit: token ? { headers: { Authorization: `Bearer ${token}` } } : {},
  });
}

const steps = [];
function passed(step, detail) {
  steps.push(step);
  console.log(`ok ${step}: ${detail}`);
}

async function call(step, name, args) {
  let result;
  try {
    result = await client.callTool({ name, arguments: args });
  } catch (e) {
    fail(step, `tools/call ${name} threw: ${e.message}`);
  }
  if (result.isError) fail(step, `${name} returned an error: ${text(result)}`, result);
  return result;
}

async function aliasNames(step) {
  const r = await call(step, ALIASES_TOOL, {});
  const data = r.structuredContent?.data ?? r.structuredContent?.items ?? r.structuredContent;
  const list = Array.isArray(data) ? data : JSON.parse(text(r)).data ?? [];
  return list.map((a) => a.name);
}

// The version negotiated: v1 hands the one the server answered initialize with to the
// transport; v2 tells it.
let negotiated;
const setProtocolVersion = transport.setProtocolVersion?.bind(transport);
transport.setProtocolVersion = (v) => {
  negotiated = v;
  setProtocolVersion?.(v);
};
try {
  await client.connect(transport);
} catch (e) {
  fail("connect", e.message);
}
negotiated = client.getNegotiatedProtocolVersion?.() ?? negotiated;
if (negotiated !== expectedVersion) {
  fail("connect", `the client offered ${expectedVersion}, the server answered ${negotiated}`);
}
passed("connect", `${client.getServerVersion()?.name} over ${transportKind}, protocol ${negotiated}`);

const aliasArgs = {
  name: ALIAS,
  type: "host",
  descr: "TypeScript SDK session",
  address: ["192.0.2.10"],
};

// create → preview: without confirm the server only previews.
const before = await aliasNames("preview");
if (before.includes(ALIAS)) fail("preview", `${ALIAS} exists before the session`);
const preview = await call("preview", "pfsense_create_firewall_alias", aliasArgs);
const p = preview.structuredContent ?? {};
if (p.preview !== true) fail("preview", "the result is not marked preview: true", preview);
if (p.diff?.name !== ALIAS) fail("preview", "the preview's diff does not show the new alias", preview);
if (!String(p.next ?? "").includes("confirm: true")) fail("preview", "the preview does not say how to confirm", preview);
if (!text(preview).includes("nothing was changed")) fail("preview", "the text does not say nothing was changed", preview);
if ((await aliasNames("preview")).includes(ALIAS)) fail("preview", "the preview created the alias");
passed("preview", `${p.risk} risk, diff shows ${p.diff.name}, nothing created`);

// confirm: the same call with confirm: true runs it.
const created = await call("confirm", "pfsense_create_firewall_alias", { ...aliasArgs, confirm: true });
const c = created.structuredContent ?? {};
if (c.preview === true) fail("confirm", "a confirmed call answered with a preview", created);
if (!(await aliasNames("confirm")).includes(ALIAS)) fail("confirm", "the alias is not listed after the confirmed create", created);
if (!text(created).includes("pfsense_firewall_apply")) fail("confirm", "the result does not remind to apply", created);
passed("confirm", `${ALIAS} created`);

// apply: the firewall apply tool, previewed then confirmed like every change.
const applyPreview = await call("apply", "pfsense_firewall_apply", {});
if (applyPreview.structuredContent?.preview !== true) fail("apply", "apply without confirm did not preview", applyPreview);
const applied = await call("apply", "pfsense_firewall_apply", { confirm: true });
if (applied.structuredContent?.preview === true) fail("apply", "confirmed apply answered with a preview", applied);
passed("apply", text(applied).split("\n")[0]);

// undo: previewed, then confirmed; the alias is gone afterwards.
const undoPreview = await call("undo", "pfsense_undo", { last: 1 });
if (undoPreview.structuredContent?.preview !== true) fail("undo", "undo without confirm did not preview", undoPreview);
if (!(await aliasNames("undo")).includes(ALIAS)) fail("undo", "the undo preview removed the alias");
const askedBefore = asked.length;
const undone = await call("undo", "pfsense_undo", { last: 1, confirm: true });
// Undoing a create deletes: destructive, so the server asks the human when it can (the test
// checks how many forms were shown); a form shown must name the alias.
const form = asked.slice(askedBefore).join("\n");
if (asked.length > askedBefore && !form.includes(ALIAS)) fail("undo", `the confirmation form does not name ${ALIAS}: ${form}`, undone);
if ((await aliasNames("undo")).includes(ALIAS)) fail("undo", "the alias is still listed after undo", undone);
passed("undo", `${ALIAS} removed; ${text(undone).split("\n")[0]}`);

await client.close();
console.log(`elicitation forms shown: ${asked.length}`);
for (const m of asked) console.log(`  asked: ${m.split("\n")[0]}`);
console.log(`ts-session ${transportKind}: ${steps.length} steps passed (${steps.join(", ")}); protocol ${negotiated}`);
