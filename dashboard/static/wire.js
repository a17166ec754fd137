// wire.js: how a connection's WebSocket messages become decoded JSON objects,
// in the order they arrived. Text messages are JSON; with the
// sensorcast.gzip subprotocol the server may also send binary messages, each
// the gzip of a JSON text (the history message), which take a while to
// decompress: messages that arrive meanwhile wait for it.

/** The WebSocket subprotocol under which the server may gzip messages. */
export const GZIP_PROTOCOL = "sensorcast.gzip";

/**
 * The subprotocols to offer: sensorcast.gzip when the browser can decompress
 * gzip (DecompressionStream), else none. g is the global object.
 */
export function subprotocols(g = globalThis) {
  return typeof g.DecompressionStream === "function" ? [GZIP_PROTOCOL] : [];
}

/**
 * The subprotocols to offer on a connection attempt after failed attempts
 * that never opened. Browsers fail the handshake when the server answers
 * without choosing one of the offered subprotocols, so a WebSocket server
 * that does not know sensorcast.gzip could never be reached while it is
 * offered: every third attempt in a row that follows such failures offers
 * none. A server that is down fails every attempt the same way, which is why
 * the other attempts keep offering it.
 */
export function offer(failed, g = globalThis) {
  return failed % 3 === 2 ? [] : subprotocols(g);
}

/** Decompresses gzip data (an ArrayBuffer, a view or a Blob) into text. */
export function gunzipText(data) {
  const stream = new Blob([data]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Response(stream).text();
}

/**
 * Inbox hands one connection's messages to deliver, decoded, in arrival order.
 * Text that is not JSON is skipped, as before. A binary message is
 * decompressed when gzip() says the server agreed to sensorcast.gzip (and
 * ignored otherwise); until it is done, later messages queue behind it. A
 * binary message that cannot be decompressed or parsed is reported through
 * log.error and skipped; the messages after it are delivered all the same.
 * After close nothing more is delivered.
 */
export class Inbox {
  constructor({ deliver, gzip = () => false, gunzip = gunzipText, log = console }) {
    this.deliver = deliver;
    this.gzip = gzip;
    this.gunzip = gunzip;
    this.log = log;
    this.queue = [];
    this.busy = false; // a binary message is being decompressed
    this.closed = false;
  }

  /** Takes one message's data: a string or binary data. */
  push(data) {
    if (this.closed) return;
    this.queue.push(data);
    if (!this.busy) this.pump();
  }

  /** Drops what is queued and stops delivering. */
  close() {
    this.closed = true;
    this.queue.length = 0;
  }

  pump() {
    while (this.queue.length > 0 && !this.closed) {
      const data = this.queue.shift();
      if (typeof data === "string") {
        let msg;
        try {
          msg = JSON.parse(data);
        } catch {
          continue;
        }
        this.deliver(msg);
        continue;
      }
      if (!this.gzip()) continue; // binary without the agreement: not ours
      this.busy = true;
      this.unzip(data);
      return;
    }
  }

  async unzip(data) {
    let msg;
    let ok = false;
    try {
      msg = JSON.parse(await this.gunzip(data));
      ok = true;
    } catch (err) {
      if (!this.closed) this.log.error("sensorcast: a compressed message could not be read; going on without it:", err);
    }
    try {
      if (ok && !this.closed) this.deliver(msg);
    } finally {
      this.busy = false;
      this.pump();
    }
  }
}
