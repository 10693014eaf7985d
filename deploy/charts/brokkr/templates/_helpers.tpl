{{/* Chart name, overridable with nameOverride. */}}
{{- define "brokkr.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: fullnameOverride, else <release>-<name> (the release alone when it holds the name). */}}
{{- define "brokkr.fullname" -}}
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

{{- define "brokkr.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "brokkr.labels" -}}
helm.sh/chart: {{ include "brokkr.chart" . }}
app.kubernetes.io/name: {{ include "brokkr.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: brokkr
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "broker") */}}
{{- define "brokkr.selectorLabels" -}}
app.kubernetes.io/name: {{ include "brokkr.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "brokkr.componentLabels" -}}
{{ include "brokkr.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "brokkr.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "brokkr.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "brokkr.image" -}}
{{- printf "%s/%s:%s" .root.Values.image.repository .binary (default .root.Chart.AppVersion .root.Values.image.tag) -}}
{{- end -}}

{{- define "brokkr.databaseSecretName" -}}
{{- default (printf "%s-database" (include "brokkr.fullname" .)) .Values.database.existingSecret -}}
{{- end -}}

{{- define "brokkr.webhookSecretName" -}}
{{- default (printf "%s-webhook-key" (include "brokkr.fullname" .)) .Values.webhookEncryption.existingSecret -}}
{{- end -}}

{{/* One TOML value: strings JSON-quoted (valid TOML), whole numbers as integers (Helm reads
numbers as floats), lists inline. */}}
{{- define "brokkr.tomlValue" -}}
{{- if kindIs "string" . -}}
{{- toJson . -}}
{{- else if kindIs "bool" . -}}
{{- . -}}
{{- else if or (kindIs "float64" .) (kindIs "int64" .) (kindIs "int" .) -}}
{{- if eq (float64 .) (floor .) -}}{{- int64 . -}}{{- else -}}{{- . -}}{{- end -}}
{{- else if kindIs "slice" . -}}
[{{- range $i, $e := . -}}{{- if $i }}, {{ end -}}{{- include "brokkr.tomlValue" $e -}}{{- end -}}]
{{- else -}}
{{- fail (printf "config: cannot write %v (%s) as TOML" . (kindOf .)) -}}
{{- end -}}
{{- end -}}

{{/* A TOML table: (list "prefix" $map). Keys first, then sub-tables; null values are left out. */}}
{{- define "brokkr.tomlTable" -}}
{{- $prefix := index . 0 -}}
{{- $table := index . 1 -}}
{{- range $k, $v := $table -}}
{{- if and (not (kindIs "map" $v)) (not (kindIs "invalid" $v)) }}
{{ $k }} = {{ include "brokkr.tomlValue" $v }}
{{- end -}}
{{- end -}}
{{- range $k, $v := $table -}}
{{- if kindIs "map" $v -}}
{{- $name := ternary $k (printf "%s.%s" $prefix $k) (eq $prefix "") }}

[{{ $name }}]
{{- include "brokkr.tomlTable" (list $name $v) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Spread constraints with the component's selector filled in: (dict "root" $ "component" "broker" "constraints" list) */}}
{{- define "brokkr.topologySpread" -}}
{{- $selector := dict "matchLabels" (include "brokkr.selectorLabels" . | fromYaml) -}}
{{- $out := list -}}
{{- range .constraints -}}
{{- $out = append $out (merge (deepCopy .) (dict "labelSelector" $selector)) -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}
