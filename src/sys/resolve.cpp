// TODO: implement
