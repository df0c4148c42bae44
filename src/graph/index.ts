// The graph engine: build typed graphs in TypeScript, write ONNX, run on ONNX Runtime.
export * from './dtype.js';
export * from './ir.js';
export { broadcastShapes, constInts, hasRule } from './ops.js';
export * from './onnx-writer.js';
export * from './runtime.js';
export { buildVjp, gradName, hasVjpRule, VJP_RULES, VjpContext, type VjpOptions, type VjpRule } from './autodiff.js';
