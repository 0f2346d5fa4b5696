// Native background mode, the parts its create, forward and settle steps share: how long a
// provider id is remembered, which configured deployment a record names, the provider URLs, and
// the idle timer for a provider that stalls.

import type { DeploymentConfig, ResponsesPollingConfig } from '../config/options';
import type { NativeDeploymentRef } from '../types';
import { UpstreamError, upstreamUrl } from '../upstream/client';

/**
 * The least time a native id is remembered: 30 days, OpenAI's retention of stored responses.
 * The provider's retention counts from creation, so the record is not refreshed on access.
 */
export const NATIVE_MIN_RETENTION_SECONDS = 30 * 24 * 3600;

/** Lifecycle calls forwarded for a native (or remembered pass-through) id. */
export type NativeAction = 'retrieve' | 'cancel' | 'delete' | 'input_items';

/** How long a native id is remembered: `backgroundMode.ttl`, but at least {@link NATIVE_MIN_RETENTION_SECONDS}. */
export function nativeRetentionSeconds(config: Pick<ResponsesPollingConfig, 'backgroundMode'>): number {
  return Math.max(config.backgroundMode.ttl, NATIVE_MIN_RETENTION_SECONDS);
}

/**
 * The provider URL of a native call: `responses` to create, `responses/{id}[/cancel|/input_items]`
 * for the lifecycle. The one place native URLs are built (through `upstreamUrl`, which knows Azure).
 */
export function nativeUrl(deployment: DeploymentConfig, id?: string, sub?: 'cancel' | 'input_items', query = ''): string {
  const path = id === undefined ? 'responses' : `responses/${encodeURIComponent(id)}${sub ? `/${sub}` : ''}`;
  return upstreamUrl(deployment, path, query);
}

/** True when `copy` (from `findDeployments`, a wildcard's copy included) was made from the configured `deployment`. */
export function isCopyOf(copy: DeploymentConfig, deployment: DeploymentConfig): boolean {
  return copy.modelName === deployment.modelName && copy.apiBase === deployment.apiBase && copy.apiKey === deployment.apiKey;
}

/** What identifies `deployment` (a copy from `findDeployments`) in the configuration, without its key. */
export function deploymentRef(config: Pick<ResponsesPollingConfig, 'models'>, deployment: DeploymentConfig): NativeDeploymentRef {
  const index = config.models.findIndex((d) => isCopyOf(deployment, d));
  return { index, modelName: deployment.modelName, apiBase: deployment.apiBase };
}

/**
 * The configured deployment `ref` names, key included: the one at its index when it still matches,
 * else the first with the same `modelName` and `apiBase` (the list was edited); undefined when gone.
 */
export function deploymentOf(config: Pick<ResponsesPollingConfig, 'models'>, ref: NativeDeploymentRef): DeploymentConfig | undefined {
  const matches = (d: DeploymentConfig | undefined) => d !== undefined && d.modelName === ref.modelName && d.apiBase === ref.apiBase;
  const at = config.models[ref.index];
  return matches(at) ? at : config.models.find(matches);
}

/** Aborts `controller` when `ms` pass without a new `arm()`: a provider that stalls before the id. */
export function idleTimer(controller: AbortController, ms: number): { arm(): void; stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  const stop = () => clearTimeout(timer);
  const arm = () => {
    stop();
    timer = setTimeout(() => controller.abort(new UpstreamError('idle_timeout', `The upstream provider sent nothing for ${ms} ms`)), ms);
  };
  return { arm, stop };
}
