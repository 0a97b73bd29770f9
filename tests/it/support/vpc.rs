//! VPCs and subnets for the network tests, made with the SDK in a moto account.

use panka_providers::aws::AwsClients;
use panka_providers::network;

/// The id of the account's default VPC (moto has one in every account and region).
pub async fn default_vpc_id(clients: &AwsClients) -> String {
    network::resolve(&clients.ec2, None)
        .await
        .expect("the default VPC")
        .vpc_id
}

/// A new VPC of `cidr`: its id.
pub async fn create_vpc(clients: &AwsClients, cidr: &str) -> String {
    clients
        .ec2
        .create_vpc()
        .cidr_block(cidr)
        .send()
        .await
        .expect("create the VPC")
        .vpc()
        .and_then(|v| v.vpc_id())
        .expect("a VPC id")
        .to_string()
}

/// A new subnet of `vpc` in `zone`: its id.
pub async fn create_subnet(clients: &AwsClients, vpc: &str, cidr: &str, zone: &str) -> String {
    clients
        .ec2
        .create_subnet()
        .vpc_id(vpc)
        .cidr_block(cidr)
        .availability_zone(zone)
        .send()
        .await
        .expect("create a subnet")
        .subnet()
        .and_then(|s| s.subnet_id())
        .expect("a subnet id")
        .to_string()
}

/// A VPC of `10.20.0.0/16` with two subnets in two zones: `(vpc, [subnet, subnet])`.
pub async fn two_subnet_vpc(clients: &AwsClients) -> (String, Vec<String>) {
    let vpc = create_vpc(clients, "10.20.0.0/16").await;
    let mut subnets = Vec::new();
    for (cidr, zone) in [
        ("10.20.1.0/24", "us-east-1a"),
        ("10.20.2.0/24", "us-east-1b"),
    ] {
        subnets.push(create_subnet(clients, &vpc, cidr, zone).await);
    }
    (vpc, subnets)
}

/// A VPC with two public subnets (their route table sends 0.0.0.0/0 to an internet
/// gateway) and two private ones, in two zones: `(vpc, public, private)`, lists sorted.
pub async fn public_private_vpc(clients: &AwsClients) -> (String, Vec<String>, Vec<String>) {
    let ec2 = &clients.ec2;
    let vpc = create_vpc(clients, "10.30.0.0/16").await;
    let gateway = ec2
        .create_internet_gateway()
        .send()
        .await
        .expect("internet gateway")
        .internet_gateway()
        .and_then(|g| g.internet_gateway_id())
        .expect("a gateway id")
        .to_string();
    ec2.attach_internet_gateway()
        .internet_gateway_id(&gateway)
        .vpc_id(&vpc)
        .send()
        .await
        .expect("attach the gateway");
    let routes = ec2
        .create_route_table()
        .vpc_id(&vpc)
        .send()
        .await
        .expect("route table")
        .route_table()
        .and_then(|t| t.route_table_id())
        .expect("a route table id")
        .to_string();
    ec2.create_route()
        .route_table_id(&routes)
        .destination_cidr_block("0.0.0.0/0")
        .gateway_id(&gateway)
        .send()
        .await
        .expect("default route");
    let mut public = Vec::new();
    for (cidr, zone) in [
        ("10.30.1.0/24", "us-east-1a"),
        ("10.30.2.0/24", "us-east-1b"),
    ] {
        let subnet = create_subnet(clients, &vpc, cidr, zone).await;
        ec2.associate_route_table()
            .route_table_id(&routes)
            .subnet_id(&subnet)
            .send()
            .await
            .expect("public route");
        public.push(subnet);
    }
    let mut private = Vec::new();
    for (cidr, zone) in [
        ("10.30.11.0/24", "us-east-1a"),
        ("10.30.12.0/24", "us-east-1b"),
    ] {
        private.push(create_subnet(clients, &vpc, cidr, zone).await);
    }
    public.sort();
    private.sort();
    (vpc, public, private)
}
