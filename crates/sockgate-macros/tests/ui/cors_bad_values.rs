use sockgate::gateway::gateway;

struct A;

#[gateway(cors(origin = 3))]
impl A {}

struct B;

#[gateway(cors(origin = "*", credentials = "yes"))]
impl B {}

struct C;

#[gateway(cors(origin = "*", methods = ["FETCH"]))]
impl C {}

struct D;

#[gateway(cors(credentials = true))]
impl D {}

fn main() {}
