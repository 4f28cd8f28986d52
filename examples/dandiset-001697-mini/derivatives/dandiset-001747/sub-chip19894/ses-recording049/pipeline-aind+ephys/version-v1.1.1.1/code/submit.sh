example content of submit.sh
