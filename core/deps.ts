/**
 * The one place that names Baton's third-party packages, with fully specified `npm:`
 * specifiers so that the module also works when imported from a URL (a remote module
 * does not see the local import map).
 *
 * @module
 */
import * as tf from "npm:@tensorflow/tfjs@4.22.0";
import { z } from "npm:zod@4.6.7";

export { tf, z };
