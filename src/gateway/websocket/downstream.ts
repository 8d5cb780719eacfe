import type WebSocket from 'ws';
import { DOWNSTREAM_HIGH_WATER_BYTES } from './protocol.ts';
import type { Downstream } from './owner-session.ts';

const DRAIN_POLL_MS = 5;

/**
 * A ws socket as a session's downstream. `send` answers false past the high-water mark so the
 * relay pauses its upstream reading; `drained` resolves once the queue is below it again (or the
 * socket is gone).
 */
export function socketDownstream(ws: WebSocket): Downstream {
  const below = () => ws.readyState !== ws.OPEN || ws.bufferedAmount < DOWNSTREAM_HIGH_WATER_BYTES;
  return {
    send(text) {
      if (ws.readyState !== ws.OPEN) return true;
      ws.send(text);
      return below();
    },
    drained() {
      return new Promise((resolve) => {
        const check = () => (below() ? resolve() : setTimeout(check, DRAIN_POLL_MS));
        check();
      });
    },
    close(code, reason) {
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(code, reason);
    },
    get open() {
      return ws.readyState === ws.OPEN;
    },
  };
}
