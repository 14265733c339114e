// The controller's API as the UI uses it. URL and key come from /config.js (serve time).

export interface AppConfig { controllerUrl: string; apiKey: string }
declare global { interface Window { APP_CONFIG?: AppConfig } }

export const config: AppConfig = window.APP_CONFIG ?? { controllerUrl: "http://127.0.0.1:18000", apiKey: "" };

// Generated from the controller's OpenAPI schema by the frontend build (types/api-types.ts): a
// change to the API that breaks the UI fails `tsc --noEmit` naming the field.
import type { components } from "../types/api-types";

type Schemas = components["schemas"];
export type Artifact = Schemas["ArtifactOut"];
export type Episode = Schemas["EpisodeOut"];
export type EpisodeEvent = Schemas["EventOut"];

export class ApiError extends Error {
  constructor(public status: number, message: string) { super(message); }
}

async function call<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers: Record<string, string> = { "Content-Type": "application/json", "X-API-Key": config.apiKey };
  let resp: Response;
  try {
    resp = await fetch(`${config.controllerUrl}${path}`, { ...init, headers: { ...headers, ...(init.headers ?? {}) } });
  } catch (err) {
    throw new ApiError(0, `controller unreachable at ${config.controllerUrl}: ${String(err)}`);
  }
  const text = await resp.text();
  const body = text ? JSON.parse(text) : {};
  if (!resp.ok) {
    throw new ApiError(resp.status, `${resp.status}: ${body.error ?? body.detail ?? text}`);
  }
  return body as T;
}

export const api = {
  list: () => call<Schemas["EpisodeList"]>("/episodes?limit=200").then((r) => r.episodes),
  get: (id: string) => call<Episode>(`/episodes/${id}`),
  create: (name: string) => call<Episode>("/episodes", { method: "POST", body: JSON.stringify({ name }) }),
  streamUrl: (id: string, after: number) =>
    `${config.controllerUrl.replace(/^http/, "ws")}/episodes/${id}/events/stream?after=${after}`,
  events: (id: string, after: number) =>
    call<Schemas["EventList"]>(`/episodes/${id}/events?after=${after}`).then((r) => r.events),
  writeFile: (id: string, path: string, content: string) =>
    call(`/episodes/${id}/files`, { method: "POST", body: JSON.stringify({ path, content }) }),
  simulate: (id: string, netlistPath: string) =>
    call(`/episodes/${id}/simulate`, { method: "POST", body: JSON.stringify({ netlist_path: netlistPath }) }),
  interrupt: (id: string) => call(`/episodes/${id}/interrupt`, { method: "POST" }),
  assetUrl: (id: string, path: string) => `${config.controllerUrl}/api/episodes/${id}/assets/${path}`,
  assetText: async (id: string, path: string) => {
    const resp = await fetch(`${config.controllerUrl}/api/episodes/${id}/assets/${path}`);
    if (!resp.ok) throw new ApiError(resp.status, `${resp.status} fetching ${path}`);
    return resp.text();
  },
};
