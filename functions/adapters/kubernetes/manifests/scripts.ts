/**
 * The three small POSIX shell programs the cluster pods run around the builder and the harness.
 * They are constants: every variable part reaches them as an argument or an environment variable
 * set by the manifest builders, never pasted into the text. The tests run them with /bin/sh and
 * curl against the embedded S3, so what a pod does is what the tests exercise.
 *
 * Paths come from the environment (AMUN_WORK, AMUN_SECRETS, AMUN_OUTPUT_DIR) so that tests can
 * point them at temporary directories; the manifests set the in-pod paths.
 */

/**
 * Build step, in the builder image (a kaniko debug variant: busybox at /busybox). Runs kaniko with
 * the arguments it was given, copies its output to the pod log and to $AMUN_WORK/log (a FIFO and
 * tee, since ash and dash differ on pipefail), records the exit code and the times, and always
 * exits 0 so that the report step runs. A builder killed from outside (OOM, eviction) exits
 * non-zero here and the reconciler reports it.
 */
export const BUILD_SCRIPT = `set -u
work="\${AMUN_WORK:-/amun/work}"
date -u +%Y-%m-%dT%H:%M:%SZ > "$work/started_at"
rm -f "$work/pipe"
mkfifo "$work/pipe"
tee "$work/log" < "$work/pipe" &
tee_pid=$!
"\${AMUN_KANIKO:-/kaniko/executor}" "$@" > "$work/pipe" 2>&1
code=$?
wait "$tee_pid"
rm -f "$work/pipe"
echo "$code" > "$work/exit_code"
date -u +%Y-%m-%dT%H:%M:%SZ > "$work/finished_at"
exit 0
`;

/**
 * Report step, in the uploader image (curl), as UPLOADER_USER once the build step has ended.
 * Composes the build status from what the build step recorded (every value checked against a strict
 * pattern before it reaches the JSON), prints it as the last line of its log (the reconciler's
 * fallback), and uploads the build log, then the status (whose appearance triggers scheduling),
 * each with the presigned PUT URL in its curl config file.
 *
 * The build step ran the build's own RUN lines as root with the work directory mounted, so what it
 * left there is read only from regular files: a symbolic link (to the grants, say) or anything else
 * is never followed or uploaded. Nothing of the build runs any more when this step starts, so no
 * name can change after its check. The status goes up from memory, never through a file there.
 * The image digest is the build's own claim: runs use only the digest the functions resolve from
 * the registry and record themselves (functions/adapters/kubernetes/images.ts).
 *
 * A builder killed with SIGKILL (exit code 137), or a build step that was (kaniko's last words
 * end in "exit status 137"), ran out of memory, most likely: reason `oom`, with the builder's
 * memory limit (AMUN_BUILDER_MEMORY) in the message. A whole container killed for its memory
 * never gets here: the reconciler reports it.
 */
export const REPORT_SCRIPT = `set -u
work="\${AMUN_WORK:-/amun/work}"
secrets="\${AMUN_SECRETS:-/amun/secrets}"
regular() {
  [ -f "$1" ] && [ ! -L "$1" ]
}
first_line() {
  if regular "$1"; then head -n 1 "$1" | tr -d '\\r\\n'; fi
}
code=$(first_line "$work/exit_code")
started=$(first_line "$work/started_at")
finished=$(first_line "$work/finished_at")
digest=$(first_line "$work/digest")
timestamp() {
  case "$1" in
    [0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z) printf '"%s"' "$1" ;;
    *) printf 'null' ;;
  esac
}
started_json=$(timestamp "$started")
finished_json=$(timestamp "$finished")
case "$digest" in
  sha256:*[!0-9a-f]*) digest_json=null ;;
  sha256:?*) digest_json="\\"$digest\\"" ;;
  *) digest_json=null ;;
esac
case "\${AMUN_BUILDER_MEMORY:-}" in
  '' | *[!0-9A-Za-z.]*) limit='' ;;
  *) limit=" of $AMUN_BUILDER_MEMORY" ;;
esac
oom_advice="most likely for exceeding the builder's memory limit$limit: ask for more with build.requests.memory"
killed_step() {
  regular "$work/log" && tail -c 4096 "$work/log" | grep -q 'exit status 137'
}
case "$code" in
  '' | *[!0-9]*)
    state=failed; code_json=null; image_json=null; reason='"executor_error"'
    message='"the build step left no exit code"' ;;
  0)
    state=succeeded; code_json=0; image_json="\\"$AMUN_IMAGE\\""; reason=null; message=null ;;
  137)
    state=failed; code_json=137; image_json=null; reason='"oom"'
    message="\\"the builder was killed (SIGKILL, exit code 137), $oom_advice\\"" ;;
  *)
    state=failed; code_json=$code; image_json=null; reason='"build_failed"'
    message="\\"the builder exited with code $code\\""
    if killed_step; then
      reason='"oom"'
      message="\\"the builder exited with code $code: a build step was killed (exit status 137), $oom_advice\\""
    fi ;;
esac
status=$(printf '{"cached":false,"executor":"kubernetes","exit_code":%s,"finished_at":%s,"image":%s,"image_digest":%s,"inspection_id":"%s","message":%s,"reason":%s,"stack_digest":"%s","started_at":%s,"state":"%s"}' \\
  "$code_json" "$finished_json" "$image_json" "$digest_json" "$AMUN_INSPECTION_ID" "$message" "$reason" "$AMUN_STACK_DIGEST" "$started_json" "$state")
put_file() {
  curl -sS --fail --retry 5 --retry-connrefused --retry-delay 2 -K "$secrets/$1" -H "Content-Type: $2" --upload-file "$3" -o /dev/null
}
put_text() {
  printf '%s' "$3" | curl -sS --fail --retry 5 --retry-connrefused --retry-delay 2 -K "$secrets/$1" -H "Content-Type: $2" -X PUT --data-binary @- -o /dev/null
}
if regular "$work/log"; then
  put_file log.curlrc 'text/plain; charset=utf-8' "$work/log"
else
  put_text log.curlrc 'text/plain; charset=utf-8' "amun-report: the build step left no build log that is a regular file
"
fi || echo "amun-report: could not upload the build log" >&2
echo "amun-report: build status follows"
printf '%s\\n' "$status"
if ! put_text status.curlrc 'application/json' "$status
"; then
  echo "amun-report: could not upload the build status" >&2
  exit 1
fi
exit 0
`;

/**
 * Upload step of a run pod, a native sidecar in the uploader image (curl), as UPLOADER_USER (not
 * the harness's UID). Waits for the harness to write its result into the shared output directory,
 * then posts hwinfo, log and result (the result last: it triggers indexing) under results/<item>/
 * with the presigned POST policy in its curl config file. A native sidecar that exits is
 * restarted, so it then waits for the TERM the kubelet sends when the harness has ended; a TERM
 * that comes first (the harness died without a result) ends it at once, and the reconciler writes
 * the result.
 *
 * The output directory is the script's too: only regular files of that directory itself are
 * posted. A symbolic link (to the grant file, say), a directory, FIFO or anything else is refused
 * and named on stderr. The decision is made on the open file, not on the name: the name is opened
 * on fd 3 and /proc/self/fd/3 must be a regular file whose path is that name in that directory
 * (a link resolves to its target's path; a file replaced after the open reads "(deleted)"), and
 * curl reads that open file. So a name swapped to a link between any check and the upload is
 * refused too.
 */
export const UPLOAD_SCRIPT = `set -u
item="\${AMUN_ITEM:-}"
case "$item" in
  '' | *[!0-9]*) echo "amun-upload: no completion index (AMUN_ITEM=$item)" >&2; exit 1 ;;
esac
if ! out=$(cd -P "\${AMUN_OUTPUT_DIR:-/amun/output}" && pwd); then
  echo "amun-upload: no output directory" >&2
  exit 1
fi
conf="\${AMUN_SECRETS:-/amun/secrets}/post.curlrc"
prefix="\${AMUN_RESULTS_PREFIX}$item/"
term=0
trap 'term=1' TERM INT
nap() {
  sleep "$1" > /dev/null 2>&1 &
  nap_pid=$!
  if [ "$term" = 0 ]; then wait "$nap_pid" 2> /dev/null; fi
  kill "$nap_pid" 2> /dev/null || true
}
present() {
  [ -e "$out/$1" ] || [ -L "$out/$1" ]
}
refuse() {
  echo "amun-upload: $1 is not a regular file of the output directory (a symbolic link, directory or special file): not uploaded" >&2
  return 1
}
send() {
  if [ "$(readlink /proc/self/fd/3 2> /dev/null)" != "$out/$1" ] || [ ! -f /proc/self/fd/3 ]; then
    refuse "$1"
    return 1
  fi
  curl -sS --fail --retry 5 --retry-connrefused --retry-delay 2 -K "$conf" \\
    --form-string "key=$prefix$1" --form-string "Content-Type=$2" -F "file=@/proc/self/fd/3;filename=$1" -o /dev/null
}
post() {
  # Only what is a regular file (links followed) is opened at all, so a FIFO cannot block this;
  # whether it is one of the output directory itself is decided on the open file, in send.
  if [ ! -f "$out/$1" ]; then
    refuse "$1"
    return 1
  fi
  { send "$1" "$2"; } 3< "$out/$1"
}
while ! present result; do
  if [ "$term" = 1 ]; then
    echo "amun-upload: stopped before the harness wrote a result" >&2
    exit 0
  fi
  nap 1
done
if present hwinfo; then post hwinfo 'application/json' || echo "amun-upload: could not upload hwinfo" >&2; fi
if present log; then post log 'text/plain; charset=utf-8' || echo "amun-upload: could not upload the log" >&2; fi
if ! post result 'application/json'; then
  echo "amun-upload: could not upload the result" >&2
  exit 1
fi
echo "amun-upload: uploaded results/$item"
while [ "$term" = 0 ]; do nap 1; done
exit 0
`;
