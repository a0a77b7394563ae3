# The province roles of scripts/install, sourced by it (its variables and small actions:
# put, folder, run, note, say, warn, die, helper, systemctl_live): `hub` on the province's
# Debian 12 server, `uplink` on a centre. See docs/install.md, "The province hub".
# shellcheck shell=bash

HUB_USER=queuebox-hub
HUB_DB=queuebox_hub
HUB_CONFIG="$ETC/hub.toml"
HUB_BROKER="$ETC/hub-broker"
HUB_DROPIN="$R/etc/mosquitto/conf.d/queuebox-hub.conf"
HUB_CA_FILE="$ETC/hub-ca.pem"

# The path a file under the prefix has on the running system.
real_path() { printf '%s' "/${1#"$R"/}"; }

# --- the hub: PostgreSQL, the hub broker, the hub's config ----------------------------------------

province_hub() {
  say "PostgreSQL: role $HUB_USER, database $HUB_DB (peer authentication on the local socket)"
  if ((!LIVE)); then
    note "not under --prefix: runuser -u postgres -- createuser $HUB_USER; createdb -O $HUB_USER $HUB_DB"
  elif ((DRY)); then
    note "would run: runuser -u postgres -- createuser $HUB_USER (if missing)"
    note "would run: runuser -u postgres -- createdb -O $HUB_USER $HUB_DB (if missing)"
  else
    run systemctl enable --now postgresql.service
    pg() { runuser -u postgres -- psql -XtAc "$1"; }
    if [[ $(pg "SELECT 1 FROM pg_roles WHERE rolname = '$HUB_USER'") == 1 ]]; then note "kept role $HUB_USER"
    else run runuser -u postgres -- createuser "$HUB_USER"; fi
    if [[ $(pg "SELECT 1 FROM pg_database WHERE datname = '$HUB_DB'") == 1 ]]; then note "kept database $HUB_DB"
    else run runuser -u postgres -- createdb -O "$HUB_USER" "$HUB_DB"; fi
  fi

  say "The hub broker's TLS files and accounts $HUB_BROKER, the Mosquitto drop-in"
  folder "$HUB_BROKER" 0755 root:root
  folder "$HUB_BROKER/tls" 0750 root:mosquitto
  [[ -n $HUB_CERT ]] && put "$HUB_BROKER/tls/cert.pem" 0644 root:mosquitto <"$HUB_CERT"
  [[ -n $HUB_KEY ]] && put "$HUB_BROKER/tls/key.pem" 0640 root:mosquitto <"$HUB_KEY"
  [[ -n $HUB_CA ]] && put "$HUB_CA_FILE" 0644 root:root <"$HUB_CA"
  if [[ ! -f $HUB_BROKER/tls/cert.pem || ! -f $HUB_BROKER/tls/key.pem || ! -f $HUB_CA_FILE ]]; then
    ((DRY)) || die "--roles hub: the hub broker speaks TLS only: give --hub-cert FILE --hub-key FILE --hub-ca FILE" \
      "(the broker's certificate, its key and the province's CA; docs/install.md, \"The province hub\")"
    note "would need --hub-cert, --hub-key and --hub-ca"
  fi

  # hub.toml: a hub's own config (no centre's sections), [hub] pointed at this broker over TLS;
  # made from config/hub.example.toml once, then kept: later runs set only these keys again.
  local header="" base=$HUB_CONFIG new keys=("port:=8883" "tls:=true" ca_file="$(real_path "$HUB_CA_FILE")"
    database="dbname=$HUB_DB" broker_certfile="$(real_path "$HUB_BROKER/tls/cert.pem")"
    broker_keyfile="$(real_path "$HUB_BROKER/tls/key.pem")")
  if [[ ! -f $HUB_CONFIG ]]; then
    base="$CHECKOUT/config/hub.example.toml"
    keys+=(host="${HUB_HOST:-localhost}")
    header="Written by scripts/install from config/hub.example.toml, for queuebox-hub.service (user $HUB_USER).
Each run sets [hub] port, tls, ca_file, database, broker_certfile, broker_keyfile, password (and host
with --hub-host) again; edit the other keys here, they are kept."
  elif [[ -n $HUB_HOST ]]; then
    keys+=(host="$HUB_HOST")
  fi
  new=$(mktemp)
  helper with-keys "$base" hub "${keys[@]}" --header "$header" >"$new" || die "could not write [hub] of $HUB_CONFIG"

  local centres=() c
  for c in "${HUB_CENTRES[@]}"; do centres+=(--centre "$c"); done
  if [[ -z $QUEUEBOX ]]; then
    note "would run: queuebox hub-credentials --config $HUB_CONFIG --out $HUB_BROKER ${centres[*]}"
  elif ((DRY)); then
    note "would run: queuebox hub-credentials --config $HUB_CONFIG --out $HUB_BROKER ${centres[*]} (keeps passwords)"
  else
    local probe out
    probe=$(mktemp -d)
    [[ -f $HUB_BROKER/secrets.toml ]] && cp -p "$HUB_BROKER/secrets.toml" "$probe/"
    out=$("$QUEUEBOX" hub-credentials --config "$new" --out "$probe" "${centres[@]}" 2>&1) \
      || { rm -rf "$probe" "$new"; die "queuebox hub-credentials failed: $out"; }
    if [[ -f $HUB_BROKER/passwd ]] && cmp -s "$probe/secrets.toml" "$HUB_BROKER/secrets.toml" \
       && cmp -s "$probe/acl" "$HUB_BROKER/acl"; then
      note "unchanged $HUB_BROKER (accounts and ACL)"
    else
      run "$QUEUEBOX" hub-credentials --config "$new" --out "$HUB_BROKER" "${centres[@]}"
      HUB_BROKER_RESTART=1
    fi
    rm -rf "$probe"
  fi
  if [[ -f $HUB_BROKER/secrets.toml ]]; then
    local hub_name final
    hub_name=$(helper get "$new" hub.username)
    final=$(mktemp)
    helper with-keys "$new" hub password="$(helper password "$HUB_BROKER/secrets.toml" "$hub_name")" >"$final"
    mv "$final" "$new"
  fi
  put "$HUB_CONFIG" 0640 "root:$HUB_USER" <"$new"
  rm -f "$new"
  if [[ -f $HUB_BROKER/mosquitto.conf ]]; then
    local conf before
    conf=$(<"$HUB_BROKER/mosquitto.conf")
    [[ -n $R ]] && conf=${conf//"$R/"/"/"}
    before=$(cat "$HUB_DROPIN" 2>/dev/null || true)
    printf '%s\n' "$conf" | put "$HUB_DROPIN" 0644 root:root
    [[ $before == "$conf" ]] || HUB_BROKER_RESTART=1
  else
    note "would write $HUB_DROPIN from $HUB_BROKER/mosquitto.conf"
  fi
  if ((LIVE)) && [[ ${HUB_BROKER_RESTART:-0} == 1 ]]; then
    systemctl_live enable mosquitto.service
    systemctl_live restart mosquitto.service
  fi
}

# --- the uplink of a centre: [uplink] of queuebox.toml, the province's CA -------------------------

province_uplink() {
  say "The uplink to the province hub: [uplink] of $CONFIG"
  [[ -n $HUB_CA ]] && put "$HUB_CA_FILE" 0644 root:root <"$HUB_CA"
  if [[ ! -f $CONFIG ]]; then note "would set [uplink] of $CONFIG"; return 0; fi
  local site keys=() new
  site=$(helper get "$CONFIG" site.id)
  keys+=(username="centre-$site")
  [[ -n $HUB_HOST ]] && keys+=(host="$HUB_HOST" "port:=8883" "tls:=true")
  [[ -f $HUB_CA_FILE || -n $HUB_CA ]] && keys+=(ca_file="$(real_path "$HUB_CA_FILE")")
  if [[ -n $HUB_PASSWORD_FILE ]]; then
    keys+=(password="$(head -n 1 "$HUB_PASSWORD_FILE" | tr -d '\r\n')")
  fi
  new=$(mktemp)
  helper with-keys "$CONFIG" uplink "${keys[@]}" >"$new" || die "could not set [uplink] of $CONFIG"
  put "$CONFIG" 0640 root:queuebox <"$new"
  rm -f "$new"
  local check=$CONFIG
  ((DRY)) && return 0
  [[ -n $(helper get "$check" uplink.host) ]] || warn "[uplink] host is empty: give --hub-host NAME (the hub broker)"
  [[ -n $(helper get "$check" uplink.password) ]] \
    || warn "[uplink] password is empty: give --hub-password-file FILE (centre-$site's password from the province)"
}
