/**
 * Baton's version: the one string, equal to `deno.json`'s `version` (a test checks it).
 *
 * @module
 */

/** The version of this copy of Baton (semver). */
export const VERSION = "0.2.0";
