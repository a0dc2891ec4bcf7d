# bash completion for vfio-mig
_vfio_mig() {
	local cur prev cmd
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}
	cmd=${COMP_WORDS[1]}
	if [ "$COMP_CWORD" -eq 1 ]; then
		COMPREPLY=($(compgen -W "demo migrate receive save load inspect info resume serve check fsm report --help --version" -- "$cur"))
		return
	fi
	case "$prev" in
	-o | --output | -i | --input | -j | --json | --svg | -s | --socket)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	-d | --device | -f | --from | -t | --to | --peer)
		COMPREPLY=($(compgen -W "local:testdev, unix: vfio:/dev/vfio/devices/ vfio-group:/dev/vfio/ tcp: sock: file:" -- "$cur"))
		return
		;;
	esac
	local opts
	opts=$("${COMP_WORDS[0]}" "$cmd" --help 2>/dev/null | grep -o -- '--[a-z-]*' | sort -u)
	COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}
complete -o default -F _vfio_mig vfio-mig
