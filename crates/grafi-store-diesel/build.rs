// The migrations are embedded with `diesel_migrations::embed_migrations!`; rebuild when they change.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
