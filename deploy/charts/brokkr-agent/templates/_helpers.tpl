{{/* Chart name, overridable with nameOverride. */}}
{{- define "brokkr-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: fullnameOverride, else <release>-<name> (the release alone when it holds the name). */}}
{{- define "brokkr-agent.fullname" -}}
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

{{- define "brokkr-agent.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "brokkr-agent.labels" -}}
helm.sh/chart: {{ include "brokkr-agent.chart" . }}
app.kubernetes.io/name: {{ include "brokkr-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: brokkr
app.kubernetes.io/component: agent
{{- end -}}

{{/* Selector labels of the agent pod. */}}
{{- define "brokkr-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "brokkr-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end -}}

{{- define "brokkr-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "brokkr-agent.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* One TOML value: strings JSON-quoted (valid TOML), whole numbers as integers (Helm reads
numbers as floats), lists inline. */}}
{{- define "brokkr-agent.tomlValue" -}}
{{- if kindIs "string" . -}}
{{- toJson . -}}
{{- else if kindIs "bool" . -}}
{{- . -}}
{{- else if or (kindIs "float64" .) (kindIs "int64" .) (kindIs "int" .) -}}
{{- if eq (float64 .) (floor .) -}}{{- int64 . -}}{{- else -}}{{- . -}}{{- end -}}
{{- else if kindIs "slice" . -}}
[{{- range $i, $e := . -}}{{- if $i }}, {{ end -}}{{- include "brokkr-agent.tomlValue" $e -}}{{- end -}}]
{{- else -}}
{{- fail (printf "config: cannot write %v (%s) as TOML" . (kindOf .)) -}}
{{- end -}}
{{- end -}}

{{/* A TOML table: (list "prefix" $map). Keys first, then sub-tables; null values are left out. */}}
{{- define "brokkr-agent.tomlTable" -}}
{{- $prefix := index . 0 -}}
{{- $table := index . 1 -}}
{{- range $k, $v := $table -}}
{{- if and (not (kindIs "map" $v)) (not (kindIs "invalid" $v)) }}
{{ $k }} = {{ include "brokkr-agent.tomlValue" $v }}
{{- end -}}
{{- end -}}
{{- range $k, $v := $table -}}
{{- if kindIs "map" $v -}}
{{- $name := ternary $k (printf "%s.%s" $prefix $k) (eq $prefix "") }}

[{{ $name }}]
{{- include "brokkr-agent.tomlTable" (list $name $v) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
rbac.clusterResources as the agent names them (agent.cluster_resources): plural, then ".group"
unless core; a JSON list.
*/}}
{{- define "brokkr-agent.clusterResources" -}}
{{- $names := list }}
{{- range .Values.rbac.clusterResources }}
{{- $groups := .apiGroups }}
{{- range .resources }}
{{- $resource := . }}
{{- range $groups }}
{{- $names = append $names (ternary $resource (printf "%s.%s" $resource .) (eq . "")) }}
{{- end }}
{{- end }}
{{- end }}
{{- toJson $names }}
{{- end }}
