{{/*
Checks that values.schema.json cannot express. Every problem found is reported in one failure.
*/}}
{{- define "codex-pooler.validate" -}}
{{- $problems := list -}}
{{- $app := .Values.app -}}
{{- $clustering := .Values.clustering -}}
{{- $wc := $app.websocketContinuity | default dict -}}
{{- $forwarding := include "codex-pooler.ownerForwarding" . -}}

{{- /* More than one app replica: every websocket session lives in one pod, so the replicas must find
each other (clustering), forward turns to the owning pod, and the operator must acknowledge it. */ -}}
{{- if and $app.enabled (gt (int64 $app.replicaCount) 1) -}}
{{- $missing := list -}}
{{- if not $clustering.enabled -}}
{{- $missing = append $missing "clustering.enabled=true" -}}
{{- else if not $clustering.participants.app -}}
{{- $missing = append $missing "clustering.participants.app=true" -}}
{{- end -}}
{{- if not $forwarding -}}
{{- $missing = append $missing "app.websocketContinuity.ownerForwarding.enabled=true" -}}
{{- end -}}
{{- if ne (toString $wc.allowUnsafeMultiReplica) "true" -}}
{{- $missing = append $missing "app.websocketContinuity.allowUnsafeMultiReplica=true" -}}
{{- end -}}
{{- if $missing -}}
{{- $problems = append $problems (printf "app.replicaCount=%d needs the multi-replica websocket topology; missing: %s (keep app.replicaCount=1 unless you have verified that topology, see docs/deployment.md)" (int64 $app.replicaCount) (join ", " $missing)) -}}
{{- end -}}
{{- else if and $app.enabled $forwarding -}}
{{- /* Forwarding alone: without clustering no owner is ever reachable (constant takeovers). */ -}}
{{- if not $clustering.enabled -}}
{{- $problems = append $problems "app.websocketContinuity.ownerForwarding.enabled=true needs clustering so websocket owner pods can be reached across app pods; missing: clustering.enabled=true" -}}
{{- else if not $clustering.participants.app -}}
{{- $problems = append $problems "app.websocketContinuity.ownerForwarding.enabled=true needs the app pods in the cluster; missing: clustering.participants.app=true (worker or scheduler clustering cannot satisfy websocket owner forwarding)" -}}
{{- end -}}
{{- end -}}

{{- /* The preStop hook and the in-process drain share one budget, all inside the grace period. */ -}}
{{- $preStop := $app.lifecycle.preStop -}}
{{- if and $app.enabled $preStop.enabled -}}
{{- $grace := int64 $app.terminationGracePeriodSeconds -}}
{{- $drain := int64 $preStop.drainTimeoutSeconds -}}
{{- $sleep := int64 $preStop.sleepSeconds -}}
{{- $required := add $drain 2 $sleep 10 5 -}}
{{- if lt $grace $required -}}
{{- $problems = append $problems (printf "invalid app lifecycle preStop budget: terminationGracePeriodSeconds (%d) must be >= drainTimeoutSeconds (%d) + 2 + sleepSeconds (%d) + 10 endpoint shutdown + 5 margin = %d" $grace $drain $sleep $required) -}}
{{- end -}}
{{- end -}}

{{- /* A Secret created by the chart must hold values the processes accept at boot. */ -}}
{{- $s := .Values.secrets -}}
{{- if $s.create -}}
{{- range $key := list "databaseUrl" "secretKeyBase" "totpEncryptionKey" "upstreamSecretKey" -}}
{{- if not (toString (index $s $key)) -}}
{{- $problems = append $problems (printf "secrets.%s is required when secrets.create=true" $key) -}}
{{- end -}}
{{- end -}}
{{- $url := toString $s.databaseUrl -}}
{{- if and $url (not (regexMatch "^postgres(ql)?://" $url)) -}}
{{- $problems = append $problems "secrets.databaseUrl (DATABASE_URL) must be a postgres:// or postgresql:// URL when secrets.create=true" -}}
{{- end -}}
{{- $base := toString $s.secretKeyBase -}}
{{- if and $base (lt (len $base) 64) -}}
{{- $problems = append $problems "secrets.secretKeyBase (SECRET_KEY_BASE) must be at least 64 characters when secrets.create=true" -}}
{{- end -}}
{{- range $pair := list (list "upstreamSecretKey" "CODEX_POOLER_UPSTREAM_SECRET_KEY") (list "totpEncryptionKey" "CODEX_POOLER_TOTP_ENCRYPTION_KEY") -}}
{{- $value := toString (index $s (index $pair 0)) -}}
{{- if and $value (ne (len $value) 32) (not (regexMatch "^[A-Za-z0-9+/_-]{43}=?$" $value)) -}}
{{- $problems = append $problems (printf "secrets.%s (%s) must be 32 raw bytes or base64-encoded 32 bytes when secrets.create=true" (index $pair 0) (index $pair 1)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- if $problems -}}
{{- fail (printf "\n- %s" (join "\n- " $problems)) -}}
{{- end -}}
{{- end }}
