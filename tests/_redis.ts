// The distributed-rollout tests need Debian's redis-server: without it they are reported as
// ignored with one line naming the package; .ci/run installs it, so CI runs them.
import { hasRedisServer } from "../distributed/local_redis.ts";

export { RedisServer } from "../distributed/local_redis.ts";

/** Whether redis-server is installed. */
export const REDIS: boolean = hasRedisServer();

if (!REDIS) {
  console.error(
    "ignoring the distributed-rollout tests: redis-server is not installed (sudo apt-get install redis-server)",
  );
}
