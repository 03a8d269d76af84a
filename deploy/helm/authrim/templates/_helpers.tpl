{{/* The chart's name. */}}
{{- define "authrim.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name; pods are <fullname>-0, -1, ... */}}
{{- define "authrim.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The headless Service that gives members stable DNS names. */}}
{{- define "authrim.peers" -}}
{{- printf "%s-peers" (include "authrim.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "authrim.selectorLabels" -}}
app.kubernetes.io/name: {{ include "authrim.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "authrim.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "authrim.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "authrim.kekSecret" -}}
{{- default (printf "%s-kek" (include "authrim.fullname" .)) .Values.kek.existingSecret -}}
{{- end -}}

{{- define "authrim.tlsSecret" -}}
{{- default (printf "%s-cluster-tls" (include "authrim.fullname" .)) .Values.clusterTLS.existingSecret -}}
{{- end -}}

{{- define "authrim.adminSecret" -}}
{{- default (printf "%s-admin" (include "authrim.fullname" .)) .Values.admin.existingSecret -}}
{{- end -}}

{{- define "authrim.adminEnabled" -}}
{{- if or .Values.admin.existingSecret .Values.admin.token -}}true{{- end -}}
{{- end -}}

{{- define "authrim.clustered" -}}
{{- if gt (int .Values.replicaCount) 1 -}}true{{- end -}}
{{- end -}}

{{/* The peer DNS name of pod number $i: <fullname>-i.<peers>.<ns>.svc.<domain> */}}
{{- define "authrim.peerHost" -}}
{{- $ := index . 0 -}}
{{- printf "%s-%d.%s.%s.svc.%s" (include "authrim.fullname" $) (index . 1) (include "authrim.peers" $) $.Release.Namespace $.Values.clusterDomain -}}
{{- end -}}

{{/*
The node configuration every member shares (config.yaml's keys). What
differs per pod comes from the environment (statefulset.yaml).
*/}}
{{- define "authrim.config" -}}
{{- $cfg := dict
  "issuer" .Values.issuer
  "http" (dict "listen" (printf "0.0.0.0:%d" (int .Values.ports.http)) "trusted_proxies" .Values.trustedProxies)
  "keys" (dict "kek_file" "/etc/authrim/kek/kek")
  "cluster" (dict "name" (include "authrim.fullname" .))
-}}
{{- if include "authrim.clustered" . -}}
{{- $initial := list -}}
{{- range $i := until (int .Values.replicaCount) -}}
{{- $initial = append $initial (printf "%s-%d=https://%s:%d" (include "authrim.fullname" $) $i (include "authrim.peerHost" (list $ $i)) (int $.Values.ports.etcdPeer)) -}}
{{- end -}}
{{- $_ := set $cfg "storage" (dict "backend" "etcd" "dir" "/data" "etcd" (dict "embed" true "client_listen" (printf "127.0.0.1:%d" (int .Values.ports.etcdClient)) "initial_cluster" (join "," $initial) "state" "new")) -}}
{{- $_ := set $cfg.cluster "tls" (dict "ca" "/etc/authrim/cluster-tls/ca.pem") -}}
{{- $peers := list -}}
{{- range $i := until (int .Values.replicaCount) -}}
{{- $peers = append $peers (printf "%s:%d" (include "authrim.peerHost" (list $ $i)) (int $.Values.ports.actors)) -}}
{{- end -}}
{{- /* Every member, this one included: a node skips its own cluster.listen. */ -}}
{{- $_ := set $cfg.cluster "peers" $peers -}}
{{- else -}}
{{- $_ := set $cfg "storage" (dict "backend" "bbolt" "dir" "/data") -}}
{{- end -}}
{{- if .Values.metrics.enabled -}}
{{- $_ := set $cfg "metrics" (dict "listen" (printf "0.0.0.0:%d" (int .Values.ports.metrics))) -}}
{{- end -}}
{{- if include "authrim.adminEnabled" . -}}
{{- $_ := set $cfg "admin" (dict "listen" (printf "127.0.0.1:%d" (int .Values.admin.port))) -}}
{{- end -}}
{{- $merged := mustMergeOverwrite $cfg (deepCopy .Values.config) -}}
{{- toYaml $merged -}}
{{- end -}}
