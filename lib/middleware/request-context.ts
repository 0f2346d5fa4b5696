// The one context of a request: who calls (set by auth), the validated create request, and what
// the limiter decided (the admission and the deployments in serving order). Each is set once.

import type { Request } from 'express';
import type { DeploymentConfig } from '../config/options';
import { Admission } from '../limiter/admission';
import type { Principal } from '../runtime';
import type { CreateResponseBody } from './create-request';
import type { Continuation } from '../conversation/continuation-body';

/** A validated create request: its body, the path that serves it and its deployments. */
export interface CreateRequest {
  body: CreateResponseBody;
  /** True when the request is served by polling via the store. */
  polling: boolean;
  /** True when the request is created in the provider's own background mode. */
  native: boolean;
  /**
   * Every deployment that can serve the request, in the order they are tried (the limiter may
   * skip those over their own limits): the first admitted one serves, the others are the
   * failover order for attempts that fail before any event.
   */
  deployments: DeploymentConfig[];
  /** With `previous_response_id`: how each deployment gets the earlier turns. */
  continuation?: Continuation;
}

/** What the limiter decided for a create: its admission and the deployments in the order they serve. */
export interface AdmissionDecision {
  admission: Admission;
  /** The admitted deployment first, then the failover order (deployments over their own limits left out). */
  deployments: DeploymentConfig[];
}

/** The state one request carries through the parts, created on first use and kept with the request. */
export class RequestContext {
  #principal: Principal | undefined;
  #create: Promise<CreateRequest> | undefined;
  #decision: AdmissionDecision | undefined;

  /** The caller: what `auth` set, else the anonymous principal (a host app that protects the mount point itself). */
  get principal(): Principal {
    this.#principal ??= { id: 'anonymous', admin: false };
    return this.#principal;
  }

  /** Sets the caller; `auth` does this once per request. */
  authenticated(principal: Principal): void {
    this.#principal = principal;
  }

  /** The validated create request: `prepare` runs on the first call only (its 400/403 rejects each time). */
  create(prepare: () => Promise<CreateRequest>): Promise<CreateRequest> {
    this.#create ??= prepare();
    return this.#create;
  }

  /** True once the limiter decided for this request (a limiter mounted twice admits once). */
  get isAdmitted(): boolean {
    return this.#decision !== undefined;
  }

  /** Records the limiter's decision; a second decision for one request is a programming error. */
  admitted(decision: AdmissionDecision): void {
    if (this.#decision) throw new Error('a request was admitted twice');
    this.#decision = decision;
  }

  /**
   * The limiter's decision, or, without a limiter in front, an admission that counts nothing
   * and the deployments in routing order.
   */
  decision(create: CreateRequest): AdmissionDecision {
    this.#decision ??= { admission: Admission.none(), deployments: create.deployments };
    return this.#decision;
  }
}

/** The property the context is kept under: a symbol, so no host app field is touched. */
const CONTEXT = Symbol('responses-polling.request-context');

type WithContext = Request & { [CONTEXT]?: RequestContext };

/** The context of `req`, created on first use. */
export function requestContext(req: Request): RequestContext {
  const holder = req as WithContext;
  holder[CONTEXT] ??= new RequestContext();
  return holder[CONTEXT];
}

/**
 * The principal that `auth` set for this request. Without the `auth` part in front (a host app
 * that protects the mount point itself), every caller is the same anonymous principal.
 */
export function principalOf(req: Request): Principal {
  return requestContext(req).principal;
}

/** Everything a create path works from, as one object: the create request, the decision, the caller. */
export type CreateCall = Omit<CreateRequest, 'deployments'> & AdmissionDecision & { principal: Principal };

/** The create call of `req` once the limiter (if any) has decided: what the create route hands its path. */
export function createCallOf(req: Request, create: CreateRequest): CreateCall {
  const ctx = requestContext(req);
  return { ...create, ...ctx.decision(create), principal: ctx.principal };
}
