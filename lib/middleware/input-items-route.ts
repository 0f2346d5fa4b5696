// `GET /v1/responses/{id}/input_items`: a polled response's input items from its turn record; a
// native or remembered pass-through id's from its provider; 404 for anyone but the owner.

import type { Request, Response, Router } from 'express';
import { itemPage, parseItemListQuery } from '../conversation/input-items';
import { responseNotFound } from '../errors';
import { ownerFilter, type Runtime } from '../runtime';
import { asyncHandler, callStore } from './http';
import { forwardNative } from './native-forward';
import { principalOf } from './request-context';

/** Adds the input-items route under each of `paths` (the responses paths) to `router`. */
export function addInputItemsRoute(router: Router, runtime: Runtime, paths: readonly string[]): void {
  const { config } = runtime;
  router.get(
    paths.map((p) => `${p}/:id/input_items`),
    asyncHandler(async function listInputItems(req: Request, res: Response) {
      const id = String(req.params.id);
      const query = parseItemListQuery(req.query as Record<string, unknown>);
      const owner = ownerFilter(principalOf(req));
      const [stored, turn] = await callStore(config, () => Promise.all([config.store.read(id, owner), config.store.readTurn(id, owner)]));
      if (stored) {
        runtime.noticeRead(id, stored);
        // A record written before turns were kept has no items to list.
        res.status(200).json(itemPage(turn?.inputItems ?? [], query));
        return;
      }
      if (await forwardNative(runtime, req, res, id, 'input_items')) return;
      // A response served through Chat Completions without background has only its turn here.
      if (turn && turn.path === 'pass_through') {
        res.status(200).json(itemPage(turn.inputItems, query));
        return;
      }
      throw responseNotFound(id);
    }),
  );
}
