// Unit tests train on the tfjs cpu backend in Node: register tfjs-core's
// gradients the way the CLI does.
import '@tensorflow/tfjs-backend-cpu';
import { registerNodeGradients } from '../../src/node/gradients';

registerNodeGradients();
