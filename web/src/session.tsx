import { useQuery, useQueryClient } from '@tanstack/react-query';
import { createContext, useContext, type ReactNode } from 'react';
import { get, setCsrfToken, type SessionState, type SignedIn } from './api.ts';

export const sessionKey = ['session'] as const;

export function useSessionQuery() {
  return useQuery({
    queryKey: sessionKey,
    queryFn: async () => {
      const session = await get<SessionState>('/session?optional=1');
      setCsrfToken(session.csrf_token ?? null);
      return session;
    },
    staleTime: 60_000,
    retry: false,
  });
}

export function useBootstrapQuery() {
  return useQuery({
    queryKey: ['bootstrap'],
    queryFn: () => get<{ bootstrap: 'pending' | 'completed' }>('/bootstrap'),
    staleTime: Infinity,
    retry: false,
  });
}

/** After sign-in, TOTP step, bootstrap or sign-out: store the new session body without a refetch. */
export function useSetSession() {
  const client = useQueryClient();
  return (session: SessionState) => {
    setCsrfToken(session.csrf_token ?? null);
    client.setQueryData(sessionKey, session);
    if (!session.authenticated) client.removeQueries({ predicate: (q) => q.queryKey[0] !== 'session' && q.queryKey[0] !== 'bootstrap' });
  };
}

const SignedInContext = createContext<SignedIn | null>(null);

export const SignedInProvider = ({ session, children }: { session: SignedIn; children: ReactNode }) => (
  <SignedInContext.Provider value={session}>{children}</SignedInContext.Provider>
);

export function useSignedIn(): SignedIn {
  const session = useContext(SignedInContext);
  if (!session) throw new Error('useSignedIn outside a signed-in page');
  return session;
}
