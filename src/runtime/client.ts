// What a CLI process needs to talk to a running server: the control file and the control channel
// client. Kept apart from index.ts so these commands start without loading the server modules.
export { controlFilePath, readControlFile } from './control-file.ts';
export type { ControlEndpoint } from './control-file.ts';
export { embeddedHolder, requestDrain, requestOperatorCommand, ControlRefusedError, ControlUnreachableError } from './control-client.ts';
export type { EmbeddedHolder } from './control-client.ts';
export type { DrainResponse, OperatorRequest, OperatorResponse } from './control-server.ts';
