// Redis Cluster hash slots: CRC16 of a key's hash tag, and for each slot a short tag that hashes
// to it, so a key can be placed in the same slot as a response's keys.

const SLOTS = 16384;

/** CRC16-CCITT (XMODEM), as Redis Cluster uses for key slots. */
function crc16(text: string): number {
  let crc = 0;
  for (const byte of Buffer.from(text, 'utf8')) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The slot of a hash tag's content (what is between `{` and `}` in a key). */
export function slotOfTag(tag: string): number {
  return crc16(tag) % SLOTS;
}

let table: string[] | undefined;

/** The prefix of every webhook queue tag on a Redis Cluster. */
const QUEUE_TAG_BASE = 'wq';

/** A hash tag `wq<n>` for every slot (built once, in a few milliseconds), so `{<tag>}` keys land in that slot. */
function tagTable(): string[] {
  if (table) return table;
  const found: string[] = new Array<string>(SLOTS);
  let left = SLOTS;
  for (let n = 0; left > 0; n++) {
    const tag = `${QUEUE_TAG_BASE}${n.toString(36)}`;
    const slot = slotOfTag(tag);
    if (found[slot] === undefined) {
      found[slot] = tag;
      left--;
    }
  }
  table = found;
  return table;
}

/** The webhook queue tag in the slot of response `id`'s keys (whose hash tag is the id). */
export function queueTagFor(id: string): string {
  return tagTable()[slotOfTag(id)]!;
}

/** Every webhook queue tag, one per slot. */
export function allQueueTags(): readonly string[] {
  return tagTable();
}
