/** One dispatched Server-Sent Event, as far as the bench needs it. */
export interface ParsedEvent {
  /** The `id:` field as a number (NaN when absent or not a number). */
  id: number;
  /** The `event:` field ('message' when absent). */
  type: string;
  /**
   * The `data:` lines joined by \n, decoded only for the event types named in `keepData`
   * (a trade's payload is a kilobyte of JSON the bench does not need; decoding 100,000 of them a
   * second would make the client the bottleneck).
   */
  data: string | undefined;
}

const NEWLINE = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const SPACE = 0x20;

/** Whether `buf[start…]` begins with the ASCII bytes of `field` followed by a colon. */
function isField(buf: Buffer, start: number, end: number, field: Uint8Array): boolean {
  if (end - start <= field.length || buf[start + field.length] !== COLON) return false;
  for (let i = 0; i < field.length; i++) if (buf[start + i] !== field[i]) return false;
  return true;
}

const ID = Buffer.from('id');
const EVENT = Buffer.from('event');
const DATA = Buffer.from('data');

/**
 * An incremental text/event-stream parser working on the socket's Buffers: lines are found with
 * Buffer#indexOf (native), fields are matched on bytes, and only the `id:` number and the short
 * `event:` name are decoded per event. A line cut between two chunks is carried over. Lines end
 * with \n or \r\n (a lone \r, allowed by the spec, is not used by the server). Comment lines
 * (`: ping`) are counted.
 */
export class SseParser {
  private rest: Buffer | undefined;
  private id = Number.NaN;
  private type = 'message';
  private dataParts: string[] = [];
  private sawData = false;
  comments = 0;
  readonly onEvent: (event: ParsedEvent) => void;
  readonly keepData: ReadonlySet<string>;

  constructor(onEvent: (event: ParsedEvent) => void, keepData: Iterable<string> = []) {
    this.onEvent = onEvent;
    this.keepData = new Set(keepData);
  }

  push(chunk: Buffer): void {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    let pos = 0;
    while (pos < buf.length) {
      const newline = buf.indexOf(NEWLINE, pos);
      if (newline < 0) break;
      const end = newline > pos && buf[newline - 1] === CR ? newline - 1 : newline;
      this.line(buf, pos, end);
      pos = newline + 1;
    }
    this.rest = pos < buf.length ? Buffer.from(buf.subarray(pos)) : undefined;
  }

  private line(buf: Buffer, start: number, end: number): void {
    if (start === end) {
      this.dispatch();
      return;
    }
    if (buf[start] === COLON) {
      this.comments++;
      return;
    }
    const valueAt = (field: Uint8Array) => {
      const colon = start + field.length;
      return buf[colon + 1] === SPACE ? colon + 2 : colon + 1;
    };
    if (isField(buf, start, end, ID)) {
      const text = buf.toString('latin1', valueAt(ID), end);
      this.id = /^\d+$/.test(text) ? Number(text) : Number.NaN;
    } else if (isField(buf, start, end, EVENT)) {
      this.type = buf.toString('latin1', valueAt(EVENT), end);
    } else if (isField(buf, start, end, DATA)) {
      this.sawData = true;
      // event: comes before data: on this server, so the type is known by now.
      if (this.keepData.has(this.type)) this.dataParts.push(buf.toString('utf8', valueAt(DATA), end));
    }
  }

  private dispatch(): void {
    if (this.sawData) {
      const data = this.keepData.has(this.type) ? this.dataParts.join('\n') : undefined;
      this.onEvent({ id: this.id, type: this.type, data });
    }
    // The spec keeps the last event id across events; the bench wants each event's own.
    this.id = Number.NaN;
    this.type = 'message';
    this.dataParts = [];
    this.sawData = false;
  }
}
