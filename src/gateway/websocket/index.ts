export { registerWebsocketRoutes, sessionKeyOf } from './routes.ts';
export type { WebsocketRouteOptions } from './routes.ts';
export { WebsocketSessions } from './sessions.ts';
export { CLOSE, parseClientFrame, warmupFrames } from './protocol.ts';
