export { registerBackendBridgeRoutes, registerV1BridgeRoutes, type Admit, type BridgeContext } from './routes.ts';
export { UploadSlots } from './multipart.ts';
