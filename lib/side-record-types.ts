// What a store keeps beside a response's own record: the provider ids of native and pass-through
// responses (owner, deployment, never a key) and turn records (what the next turn of a
// conversation needs). Re-exported by types.ts with the store contract that uses them.

import type { OutputItem } from './response-types';

/**
 * What the store remembers about a response created in the provider's own background mode
 * (`native_background_mode`): who owns it and which deployment holds it. Never a secret: the
 * deployment's key is read from the configuration each time a call is forwarded.
 */
export interface NativeResponseRecord {
  /** Owner hash, see {@link ResponseMeta.owner}. */
  owner: string;
  /**
   * `pass_through`: a response created without background and relayed as the provider answered
   * (remembered so lifecycle calls reach its deployment; never settled here). Absent: native.
   */
  path?: 'pass_through';
  /** The deployment that created the response, as configured when it was created. */
  deployment: NativeDeploymentRef;
  /** The model name the client asked for. */
  model: string;
  /** Epoch milliseconds of the create. */
  createdAt: number;
  /**
   * The limiter admission the create was counted under (its id and subject keys, never a secret),
   * so the response's tokens and spend are recorded once it is seen finished. Absent: no limits applied.
   */
  admission?: { id: string; subjects: string[] };
}

/**
 * Identifies a deployment across restarts and instances without its key: its position in the
 * configured `models` list, plus the fields that must still match there (when the list changed,
 * a deployment with the same `modelName` and `apiBase` is looked for instead).
 */
export interface NativeDeploymentRef {
  /** Index in the resolved `models` list at create time. */
  index: number;
  /** `modelName` of the configured deployment (as configured: a wildcard keeps its `*`). */
  modelName: string;
  /** Base URL of the provider. */
  apiBase: string;
}

/** One item of a response's input, in OpenAI's item shape (a message, a function call output, …), with its id. */
export interface InputItem {
  type: string;
  id: string;
  [field: string]: unknown;
}

/** Where an upstream holds one turn: the upstream's own response id and the deployment (never its key). */
export interface TurnUpstream {
  /** The upstream's id of the response (what it knows as `previous_response_id`). */
  id: string;
  deployment: NativeDeploymentRef;
  /** False when the upstream was asked not to store the response (`store: false`): it cannot be continued there. */
  stored: boolean;
}

/**
 * What the store keeps of one response for the next turn of its conversation: its input items and
 * instructions, the turn before it, and where the upstream holds it. Same owner as the response.
 */
export interface TurnRecord {
  /** Owner hash, see {@link ResponseMeta.owner}. */
  owner: string;
  /** How the response was served: `polling` (a record of ours), `native` or `pass_through` (the provider's id). */
  path: 'polling' | 'native' | 'pass_through';
  /** The `previous_response_id` the client gave for this turn, or null. */
  previousResponseId: string | null;
  /** The turn's instructions, as given (never carried over to the next turn, as in OpenAI's API). */
  instructions: unknown;
  /** The turn's input items with ids, in order. */
  inputItems: InputItem[];
  /** Where the upstream holds the turn; set once known (a polled response: when its worker ends). */
  upstream?: TurnUpstream;
  /** The turn's output items when known here without a record (a JSON pass-through answer). */
  output?: OutputItem[];
}
