// Counts the event-stream followers of this process per response and per principal, and refuses
// one beyond either cap with a 429, so no response or caller can hold unbounded sockets here.

import { ApiError } from '../errors';

/** The caps a {@link FollowerRegistry} enforces (see `StreamFollowerOptions`). */
export interface FollowerCaps {
  maxPerResponse: number;
  maxPerPrincipal: number;
}

/** A follower's place; `release()` gives it back (once, however often it is called). */
export interface FollowerSlot {
  release(): void;
}

/** The error code of a follower refused by a cap. */
export const TOO_MANY_FOLLOWERS = 'too_many_followers';

/**
 * Followers in this process by response id and by principal (owner hash). Both maps hold only
 * keys with at least one follower, so their size is bounded by the followers themselves.
 */
export class FollowerRegistry {
  readonly #caps: FollowerCaps;
  readonly #byResponse = new Map<string, number>();
  readonly #byPrincipal = new Map<string, number>();

  constructor(caps: FollowerCaps) {
    this.#caps = caps;
  }

  /** Takes a slot for `principal` following response `id`, or throws a 429 `ApiError`. */
  acquire(principal: string, id: string): FollowerSlot {
    const forResponse = this.#byResponse.get(id) ?? 0;
    const forPrincipal = this.#byPrincipal.get(principal) ?? 0;
    if (forResponse >= this.#caps.maxPerResponse) {
      throw tooMany(`This response already has ${forResponse} streams following it here (at most ${this.#caps.maxPerResponse}).`);
    }
    if (forPrincipal >= this.#caps.maxPerPrincipal) {
      throw tooMany(`This key already has ${forPrincipal} response streams open here (at most ${this.#caps.maxPerPrincipal}).`);
    }
    this.#byResponse.set(id, forResponse + 1);
    this.#byPrincipal.set(principal, forPrincipal + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        decrement(this.#byResponse, id);
        decrement(this.#byPrincipal, principal);
      },
    };
  }

  /** Followers of response `id` in this process. */
  followersOf(id: string): number {
    return this.#byResponse.get(id) ?? 0;
  }
}

function decrement(counts: Map<string, number>, key: string): void {
  const n = (counts.get(key) ?? 0) - 1;
  if (n > 0) counts.set(key, n);
  else counts.delete(key);
}

function tooMany(what: string): ApiError {
  return new ApiError(429, `${what} Close a stream, or retry after 1s.`, {
    type: 'requests',
    code: TOO_MANY_FOLLOWERS,
    headers: { 'retry-after': '1' },
  });
}
