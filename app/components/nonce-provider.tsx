import { createContext, useContext } from "react";

// The CSP nonce of the response being rendered (see app/services/security.server.ts). Only the
// server knows it: entry.server provides it, root's <Scripts>/<ScrollRestoration> read it. In the
// browser it is undefined, which is fine: those inline scripts have already run by then.
const NonceContext = createContext<string | undefined>(undefined);

export const NonceProvider = NonceContext.Provider;

export function useNonce(): string | undefined {
  return useContext(NonceContext);
}
