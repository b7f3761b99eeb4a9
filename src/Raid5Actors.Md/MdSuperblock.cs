namespace Raid5Actors.Md;
