import { ActionIcon, AppShell, Burger, Button, Group, NavLink, Text, Tooltip, useComputedColorScheme, useMantineColorScheme } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { lazy, Suspense, type ComponentType } from 'react';
import { Navigate, NavLink as RouterNavLink, Route, Routes, useLocation } from 'react-router';
import { api, type SessionState } from './api.ts';
import { ErrorNote, Loading } from './components.tsx';
import { BootstrapPage, SignInPage } from './pages/auth.tsx';
import { SignedInProvider, useBootstrapQuery, useSessionQuery, useSetSession, useSignedIn } from './session.tsx';

// Each screen is its own chunk (the charts are the heavy part), loaded on first visit.
const page = <K extends string>(load: () => Promise<Record<K, ComponentType>>, name: K) => lazy(() => load().then((m) => ({ default: m[name] })));
const OverviewPage = page(() => import('./pages/overview.tsx'), 'OverviewPage');
const PoolsPage = page(() => import('./pages/pools.tsx'), 'PoolsPage');
const AccountsPage = page(() => import('./pages/accounts.tsx'), 'AccountsPage');
const InvitesPage = page(() => import('./pages/invites.tsx'), 'InvitesPage');
const ApiKeysPage = page(() => import('./pages/api-keys.tsx'), 'ApiKeysPage');
const KeyObservatoryPage = page(() => import('./pages/key-observatory.tsx'), 'KeyObservatoryPage');
const RequestLogsPage = page(() => import('./pages/request-logs.tsx'), 'RequestLogsPage');
const UsagePage = page(() => import('./pages/usage.tsx'), 'UsagePage');
const AuditPage = page(() => import('./pages/audit.tsx'), 'AuditPage');
const OperatorsPage = page(() => import('./pages/operators.tsx'), 'OperatorsPage');
const SettingsPage = page(() => import('./pages/settings.tsx'), 'SettingsPage');

export function App() {
  const bootstrap = useBootstrapQuery();
  const session = useSessionQuery();
  const location = useLocation();

  if (bootstrap.isLoading || session.isLoading) return <Loading />;
  if (bootstrap.error) return <ErrorNote error={bootstrap.error} retry={() => void bootstrap.refetch()} />;
  if (session.error) return <ErrorNote error={session.error} retry={() => void session.refetch()} />;

  const pending = bootstrap.data?.bootstrap === 'pending';
  const state = session.data as SessionState;
  const from = location.pathname.startsWith('/login') || location.pathname.startsWith('/bootstrap') ? '/' : location.pathname + location.search;

  if (pending && !state.authenticated) {
    return (
      <Routes>
        <Route path="/bootstrap" element={<BootstrapPage />} />
        <Route path="*" element={<Navigate to="/bootstrap" replace />} />
      </Routes>
    );
  }
  if (!state.authenticated) {
    return (
      <Routes>
        <Route path="/login" element={<SignInPage mfaPending={Boolean(state.mfa_required)} />} />
        <Route path="*" element={<Navigate to="/login" replace state={state.signed_out ? null : { from }} />} />
      </Routes>
    );
  }
  const mustChangePassword = state.auth.password_change_required;
  return (
    <SignedInProvider session={state}>
      <Shell>
        <Routes>
          <Route path="/login" element={<Navigate to={(location.state as { from?: string } | null)?.from ?? '/'} replace />} />
          <Route path="/bootstrap" element={<Navigate to="/" replace />} />
          {mustChangePassword ? (
            <>
              <Route path="/settings" element={<SettingsPage />} />
              <Route path="*" element={<Navigate to="/settings" replace />} />
            </>
          ) : (
            <>
              <Route path="/" element={<OverviewPage />} />
              <Route path="/pools" element={<PoolsPage />} />
              <Route path="/accounts" element={<AccountsPage />} />
              <Route path="/invites" element={<InvitesPage />} />
              <Route path="/api-keys" element={<ApiKeysPage />} />
              <Route path="/api-keys/:id" element={<KeyObservatoryPage />} />
              <Route path="/request-logs" element={<RequestLogsPage />} />
              <Route path="/usage" element={<UsagePage />} />
              <Route path="/audit" element={<AuditPage />} />
              <Route path="/operators" element={<OperatorsPage />} />
              <Route path="/settings" element={<SettingsPage />} />
              <Route path="*" element={<NotFound />} />
            </>
          )}
        </Routes>
      </Shell>
    </SignedInProvider>
  );
}

const NotFound = () => (
  <Text>
    This page does not exist. Use the navigation to pick a screen.
  </Text>
);

type NavItem = { to: string; label: string; show?: (p: ReturnType<typeof useSignedIn>) => boolean };
const NAV: NavItem[] = [
  { to: '/', label: 'Overview' },
  { to: '/pools', label: 'Pools' },
  { to: '/accounts', label: 'Accounts' },
  { to: '/invites', label: 'Invites' },
  { to: '/api-keys', label: 'API keys' },
  { to: '/request-logs', label: 'Request logs' },
  { to: '/usage', label: 'Usage' },
  { to: '/audit', label: 'Audit' },
  { to: '/operators', label: 'Operators', show: (s) => s.auth.permissions['operator.manage'] },
  { to: '/settings', label: 'Settings' },
];

function Shell({ children }: { children: React.ReactNode }) {
  const [opened, { toggle, close }] = useDisclosure();
  const session = useSignedIn();
  const setSession = useSetSession();
  const { setColorScheme } = useMantineColorScheme();
  const scheme = useComputedColorScheme('light');
  const location = useLocation();

  const signOut = async () => {
    await api<SessionState>('DELETE', '/session').catch(() => null);
    // A deliberate sign-out starts over at the overview next time (an expired session returns to the page).
    setSession({ authenticated: false, signed_out: true });
  };

  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 220, breakpoint: 'sm', collapsed: { mobile: !opened } }} padding="lg">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between">
          <Group gap="sm">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Toggle navigation" />
            <Text fw={700}>Codex Pooler</Text>
          </Group>
          <Group gap="sm">
            <Text size="sm" c="dimmed" visibleFrom="xs">
              {session.user.email}
            </Text>
            <Tooltip label={scheme === 'dark' ? 'Light mode' : 'Dark mode'}>
              <ActionIcon variant="default" size="lg" aria-label="Toggle dark mode" onClick={() => setColorScheme(scheme === 'dark' ? 'light' : 'dark')}>
                <span aria-hidden="true">{scheme === 'dark' ? '☀' : '☾'}</span>
              </ActionIcon>
            </Tooltip>
            <Button variant="default" size="xs" onClick={() => void signOut()}>
              Sign out
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" component="nav" aria-label="Main">
        {NAV.filter((item) => !item.show || item.show(session)).map((item) => (
          <NavLink
            key={item.to}
            component={RouterNavLink}
            to={item.to}
            end={item.to === '/'}
            label={item.label}
            active={item.to === '/' ? location.pathname === '/' : location.pathname.startsWith(item.to)}
            onClick={close}
          />
        ))}
      </AppShell.Navbar>
      <AppShell.Main>
        <Suspense fallback={<Loading />}>{children}</Suspense>
      </AppShell.Main>
    </AppShell>
  );
}
