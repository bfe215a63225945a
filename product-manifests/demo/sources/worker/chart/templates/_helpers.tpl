{{/* Labels on every object of the release. */}}
{{- define "component.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{ include "component.selector" . }}
{{- end -}}

{{/* Labels that select the component's pods. */}}
{{- define "component.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end -}}

{{/* An image pinned by digest, from a values prefix such as `image` or `probe`. */}}
{{- define "component.pinnedImage" -}}
{{- $values := index .root.Values .prefix -}}
{{- $hint := printf "Chorale writes it from the product manifest's images entry with `values: %s`" .prefix -}}
{{- $repository := required (printf "%s.repository is required: %s" .prefix $hint) $values.repository -}}
{{- $digest := required (printf "%s.digest is required (images are pinned by digest, sha256:...): %s" .prefix $hint) $values.digest -}}
{{- printf "%s@%s" $repository $digest -}}
{{- end -}}
