/**
 * One method of an object answered by the test, the rest as the object has them:
 * how tests make a storage die, wait or race at one call.
 */

/**
 * `target` with `method` answered by what `replace` returns (it gets the target's own
 * method, bound); when `replace` returns undefined, by the target's own. `replace` is
 * asked at every access, so it can change its answer as the test goes.
 */
export function intercept<T extends object, K extends keyof T>(
  target: T,
  method: K,
  replace: (own: T[K]) => T[K] | undefined,
): T {
  return new Proxy(target, {
    get(object, prop) {
      const value = Reflect.get(object, prop);
      const own = typeof value === "function" ? value.bind(object) : value;
      return prop === method ? replace(own) ?? own : own;
    },
  });
}
