// In bundled code (the app's worker) tfjs-core's gradient registrations import
// directly; Node uses src/node/gradients.ts instead.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
