//! The endpoint catalog: one row per WeCom customer-contact endpoint, and what is generated from
//! it — the [`Endpoint`] impl of each request type, the typed [`Client`] method of the same
//! name, and [`ENDPOINTS`]. The by-name dispatch ([`by_name`](super::by_name)) is generated from
//! the same table, so a row added here is callable everywhere.
//!
//! A row reads `method_name: VERB "path after /cgi-bin/externalcontact/", Request => Response;`.
//! The method name is the path with `/` → `_` (a test holds every row to that rule).

use super::client::Client;
use super::endpoint::{Endpoint, EndpointInfo, HttpMethod};
use super::error::ApiError;
use super::{
    acquisition, contact, contact_way, group_chat, group_welcome, id_convert, message, moment,
    statistics, strategy, tag, transfer, types,
};

/// Calls `$callback! { rows }` with every row of the endpoint table.
macro_rules! endpoint_table {
    ($callback:ident) => {
        $callback! {
            // 客户管理
            /// 获取配置了客户联系功能的成员列表: the members who can serve customers.
            get_follow_user_list: GET "get_follow_user_list",
                contact::GetFollowUserListRequest => contact::GetFollowUserListResponse;
            /// 获取客户列表: one member's customers.
            list: GET "list", contact::ListRequest => contact::ListResponse;
            /// 获取客户详情: a customer and the members following them.
            get: GET "get", contact::GetRequest => contact::GetResponse;
            /// 批量获取客户详情: the customers of several members, paged.
            batch_get_by_user: POST "batch/get_by_user",
                contact::BatchGetByUserRequest => contact::BatchGetByUserResponse;
            /// 修改客户备注信息.
            remark: POST "remark", contact::RemarkRequest => types::EmptyResponse;

            // 「联系我」
            /// 配置客户联系「联系我」方式.
            add_contact_way: POST "add_contact_way",
                contact_way::AddContactWayRequest => contact_way::AddContactWayResponse;
            /// 获取企业已配置的「联系我」方式.
            get_contact_way: POST "get_contact_way",
                contact_way::GetContactWayRequest => contact_way::GetContactWayResponse;
            /// 获取企业已配置的「联系我」列表 (paged).
            list_contact_way: POST "list_contact_way",
                contact_way::ListContactWayRequest => contact_way::ListContactWayResponse;
            /// 更新企业已配置的「联系我」方式.
            update_contact_way: POST "update_contact_way",
                contact_way::UpdateContactWayRequest => types::EmptyResponse;
            /// 删除企业已配置的「联系我」方式.
            del_contact_way: POST "del_contact_way",
                contact_way::DelContactWayRequest => types::EmptyResponse;
            /// 结束临时会话.
            close_temp_chat: POST "close_temp_chat",
                contact_way::CloseTempChatRequest => types::EmptyResponse;

            // 客户联系规则组
            /// 获取规则组列表 (paged).
            customer_strategy_list: POST "customer_strategy/list",
                strategy::CustomerStrategyListRequest => strategy::StrategyListResponse;
            /// 获取规则组详情.
            customer_strategy_get: POST "customer_strategy/get",
                strategy::CustomerStrategyGetRequest => strategy::CustomerStrategyGetResponse;
            /// 获取规则组管理范围 (paged).
            customer_strategy_get_range: POST "customer_strategy/get_range",
                strategy::CustomerStrategyGetRangeRequest => strategy::StrategyRangeResponse;
            /// 创建新的规则组.
            customer_strategy_create: POST "customer_strategy/create",
                strategy::CustomerStrategyCreateRequest => strategy::StrategyCreateResponse;
            /// 编辑规则组及其管理范围.
            customer_strategy_edit: POST "customer_strategy/edit",
                strategy::CustomerStrategyEditRequest => types::EmptyResponse;
            /// 删除规则组.
            customer_strategy_del: POST "customer_strategy/del",
                strategy::CustomerStrategyDelRequest => types::EmptyResponse;

            // 客户朋友圈规则组
            /// 获取朋友圈规则组列表 (paged).
            moment_strategy_list: POST "moment_strategy/list",
                strategy::MomentStrategyListRequest => strategy::StrategyListResponse;
            /// 获取朋友圈规则组详情.
            moment_strategy_get: POST "moment_strategy/get",
                strategy::MomentStrategyGetRequest => strategy::MomentStrategyGetResponse;
            /// 获取朋友圈规则组管理范围 (paged).
            moment_strategy_get_range: POST "moment_strategy/get_range",
                strategy::MomentStrategyGetRangeRequest => strategy::StrategyRangeResponse;
            /// 创建新的朋友圈规则组.
            moment_strategy_create: POST "moment_strategy/create",
                strategy::MomentStrategyCreateRequest => strategy::StrategyCreateResponse;
            /// 编辑朋友圈规则组及其管理范围.
            moment_strategy_edit: POST "moment_strategy/edit",
                strategy::MomentStrategyEditRequest => types::EmptyResponse;
            /// 删除朋友圈规则组.
            moment_strategy_del: POST "moment_strategy/del",
                strategy::MomentStrategyDelRequest => types::EmptyResponse;

            // 客户标签
            /// 获取企业标签库.
            get_corp_tag_list: POST "get_corp_tag_list",
                tag::GetCorpTagListRequest => tag::TagGroupListResponse;
            /// 添加企业客户标签.
            add_corp_tag: POST "add_corp_tag", tag::AddCorpTagRequest => tag::TagGroupResponse;
            /// 编辑企业客户标签.
            edit_corp_tag: POST "edit_corp_tag", tag::EditCorpTagRequest => types::EmptyResponse;
            /// 删除企业客户标签.
            del_corp_tag: POST "del_corp_tag", tag::DelCorpTagRequest => types::EmptyResponse;
            /// 获取指定规则组下的企业客户标签.
            get_strategy_tag_list: POST "get_strategy_tag_list",
                tag::GetStrategyTagListRequest => tag::TagGroupListResponse;
            /// 为指定规则组创建企业客户标签.
            add_strategy_tag: POST "add_strategy_tag",
                tag::AddStrategyTagRequest => tag::TagGroupResponse;
            /// 编辑指定规则组下的企业客户标签.
            edit_strategy_tag: POST "edit_strategy_tag",
                tag::EditStrategyTagRequest => types::EmptyResponse;
            /// 删除指定规则组下的企业客户标签.
            del_strategy_tag: POST "del_strategy_tag",
                tag::DelStrategyTagRequest => types::EmptyResponse;
            /// 编辑客户企业标签.
            mark_tag: POST "mark_tag", tag::MarkTagRequest => types::EmptyResponse;

            // 在职继承 / 离职继承
            /// 分配在职成员的客户.
            transfer_customer: POST "transfer_customer",
                transfer::TransferCustomerRequest => transfer::TransferCustomerResponse;
            /// 查询在职客户接替状态 (paged).
            transfer_result: POST "transfer_result",
                transfer::TransferResultRequest => transfer::TransferResultResponse;
            /// 获取待分配的离职成员列表 (paged; ends at `is_last`).
            get_unassigned_list: POST "get_unassigned_list",
                transfer::GetUnassignedListRequest => transfer::GetUnassignedListResponse;
            /// 分配离职成员的客户.
            resigned_transfer_customer: POST "resigned/transfer_customer",
                transfer::ResignedTransferCustomerRequest => transfer::TransferCustomerResponse;
            /// 查询离职客户接替状态 (paged).
            resigned_transfer_result: POST "resigned/transfer_result",
                transfer::ResignedTransferResultRequest => transfer::TransferResultResponse;
            /// 分配离职成员的客户群.
            groupchat_transfer: POST "groupchat/transfer",
                transfer::GroupchatTransferRequest => transfer::GroupchatTransferResponse;
            /// 分配在职成员的客户群.
            groupchat_onjob_transfer: POST "groupchat/onjob_transfer",
                transfer::GroupchatOnjobTransferRequest => transfer::GroupchatTransferResponse;

            // 客户群
            /// 获取客户群列表 (paged).
            groupchat_list: POST "groupchat/list",
                group_chat::GroupchatListRequest => group_chat::GroupchatListResponse;
            /// 获取客户群详情.
            groupchat_get: POST "groupchat/get",
                group_chat::GroupchatGetRequest => group_chat::GroupchatGetResponse;

            // 客户朋友圈
            /// 获取企业全部的发表列表 (paged).
            get_moment_list: POST "get_moment_list",
                moment::GetMomentListRequest => moment::GetMomentListResponse;
            /// 获取客户朋友圈企业发表的列表 (paged).
            get_moment_task: POST "get_moment_task",
                moment::GetMomentTaskRequest => moment::GetMomentTaskResponse;
            /// 获取客户朋友圈发表时选择的可见范围 (paged).
            get_moment_customer_list: POST "get_moment_customer_list",
                moment::GetMomentCustomerListRequest => moment::GetMomentCustomerListResponse;
            /// 获取客户朋友圈发表后的可见客户列表 (paged).
            get_moment_send_result: POST "get_moment_send_result",
                moment::GetMomentSendResultRequest => moment::GetMomentSendResultResponse;
            /// 获取客户朋友圈的互动数据.
            get_moment_comments: POST "get_moment_comments",
                moment::GetMomentCommentsRequest => moment::GetMomentCommentsResponse;
            /// 创建发表任务.
            add_moment_task: POST "add_moment_task",
                moment::AddMomentTaskRequest => moment::AddMomentTaskResponse;
            /// 获取任务创建结果.
            get_moment_task_result: GET "get_moment_task_result",
                moment::GetMomentTaskResultRequest => moment::GetMomentTaskResultResponse;
            /// 停止发表企业朋友圈.
            cancel_moment_task: POST "cancel_moment_task",
                moment::CancelMomentTaskRequest => types::EmptyResponse;

            // 群发与欢迎语
            /// 创建企业群发.
            add_msg_template: POST "add_msg_template",
                message::AddMsgTemplateRequest => message::AddMsgTemplateResponse;
            /// 获取群发记录列表 (paged).
            get_groupmsg_list_v2: POST "get_groupmsg_list_v2",
                message::GetGroupmsgListV2Request => message::GetGroupmsgListV2Response;
            /// 获取群发成员发送任务列表 (paged).
            get_groupmsg_task: POST "get_groupmsg_task",
                message::GetGroupmsgTaskRequest => message::GetGroupmsgTaskResponse;
            /// 获取企业群发成员执行结果 (paged).
            get_groupmsg_send_result: POST "get_groupmsg_send_result",
                message::GetGroupmsgSendResultRequest => message::GetGroupmsgSendResultResponse;
            /// 发送新客户欢迎语 (within 20 s of the event; 41050/41051 are final).
            send_welcome_msg: POST "send_welcome_msg",
                message::SendWelcomeMsgRequest => types::EmptyResponse;
            /// 提醒成员群发.
            remind_groupmsg_send: POST "remind_groupmsg_send",
                message::RemindGroupmsgSendRequest => types::EmptyResponse;
            /// 停止企业群发.
            cancel_groupmsg_send: POST "cancel_groupmsg_send",
                message::CancelGroupmsgSendRequest => types::EmptyResponse;

            // 入群欢迎语素材
            /// 添加入群欢迎语素材.
            group_welcome_template_add: POST "group_welcome_template/add",
                group_welcome::GroupWelcomeTemplateAddRequest
                    => group_welcome::GroupWelcomeTemplateAddResponse;
            /// 编辑入群欢迎语素材.
            group_welcome_template_edit: POST "group_welcome_template/edit",
                group_welcome::GroupWelcomeTemplateEditRequest => types::EmptyResponse;
            /// 获取入群欢迎语素材.
            group_welcome_template_get: POST "group_welcome_template/get",
                group_welcome::GroupWelcomeTemplateGetRequest
                    => group_welcome::GroupWelcomeTemplateGetResponse;
            /// 删除入群欢迎语素材.
            group_welcome_template_del: POST "group_welcome_template/del",
                group_welcome::GroupWelcomeTemplateDelRequest => types::EmptyResponse;

            // 统计
            /// 获取「联系客户统计」数据.
            get_user_behavior_data: POST "get_user_behavior_data",
                statistics::GetUserBehaviorDataRequest => statistics::GetUserBehaviorDataResponse;
            /// 获取「群聊数据统计」数据, 按群主聚合 (offset-paged).
            groupchat_statistic: POST "groupchat/statistic",
                statistics::GroupchatStatisticRequest => statistics::GroupchatStatisticResponse;
            /// 获取「群聊数据统计」数据, 按自然日聚合.
            groupchat_statistic_group_by_day: POST "groupchat/statistic_group_by_day",
                statistics::GroupchatStatisticGroupByDayRequest
                    => statistics::GroupchatStatisticGroupByDayResponse;

            // 获客助手
            /// 获取获客链接列表 (paged).
            customer_acquisition_list_link: POST "customer_acquisition/list_link",
                acquisition::CustomerAcquisitionListLinkRequest
                    => acquisition::CustomerAcquisitionListLinkResponse;
            /// 获取获客链接详情.
            customer_acquisition_get: POST "customer_acquisition/get",
                acquisition::CustomerAcquisitionGetRequest
                    => acquisition::CustomerAcquisitionGetResponse;
            /// 创建获客链接.
            customer_acquisition_create_link: POST "customer_acquisition/create_link",
                acquisition::CustomerAcquisitionCreateLinkRequest
                    => acquisition::CustomerAcquisitionCreateLinkResponse;
            /// 编辑获客链接.
            customer_acquisition_update_link: POST "customer_acquisition/update_link",
                acquisition::CustomerAcquisitionUpdateLinkRequest => types::EmptyResponse;
            /// 删除获客链接.
            customer_acquisition_delete_link: POST "customer_acquisition/delete_link",
                acquisition::CustomerAcquisitionDeleteLinkRequest => types::EmptyResponse;

            // ID 转换
            /// unionid 转换为 external_userid.
            unionid_to_external_userid: POST "unionid_to_external_userid",
                id_convert::UnionidToExternalUseridRequest
                    => id_convert::UnionidToExternalUseridResponse;
            /// external_userid 的转换 (2022 升级).
            get_new_external_userid: POST "get_new_external_userid",
                id_convert::GetNewExternalUseridRequest => id_convert::NewExternalUseridResponse;
            /// 代开发/第三方应用的 external_userid 转换为自建应用的.
            from_service_external_userid: POST "from_service_external_userid",
                id_convert::FromServiceExternalUseridRequest
                    => id_convert::FromServiceExternalUseridResponse;
            /// 客户群成员 external_userid 的转换.
            groupchat_get_new_external_userid: POST "groupchat/get_new_external_userid",
                id_convert::GroupchatGetNewExternalUseridRequest
                    => id_convert::NewExternalUseridResponse;
            /// 客户群 opengid 转换为 chat_id.
            opengid_to_chatid: POST "opengid_to_chatid",
                id_convert::OpengidToChatidRequest => id_convert::OpengidToChatidResponse;
        }
    };
}
pub(crate) use endpoint_table;

/// `GET` / `POST` in the table → [`HttpMethod`].
macro_rules! http_method {
    (GET) => {
        HttpMethod::Get
    };
    (POST) => {
        HttpMethod::Post
    };
}

/// Generates the [`Endpoint`] impls, the [`Client`] methods and [`ENDPOINTS`].
macro_rules! define_endpoints {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident : $verb:ident $path:literal, $request:ty => $response:ty;
    )*) => {
        $(
            impl Endpoint for $request {
                type Response = $response;
                const NAME: &'static str = stringify!($name);
                const METHOD: HttpMethod = http_method!($verb);
                const PATH: &'static str = concat!("/cgi-bin/externalcontact/", $path);
            }
        )*

        /// The typed endpoint methods, one per row of the endpoint table.
        impl Client {
            $(
                $(#[doc = $doc])*
                #[doc = ""]
                #[doc = concat!("`", stringify!($verb), " /cgi-bin/externalcontact/", $path, "`")]
                #[doc = ""]
                #[doc = "# Errors"]
                #[doc = "Any [`ApiError`]; a non-zero `errcode` is [`ApiError::Api`]."]
                pub async fn $name(&self, request: &$request) -> Result<$response, ApiError> {
                    self.call(request).await
                }
            )*
        }

        /// Every endpoint, in table order (grouped by area).
        pub const ENDPOINTS: &[EndpointInfo] = &[$(
            EndpointInfo {
                name: stringify!($name),
                method: http_method!($verb),
                path: concat!("/cgi-bin/externalcontact/", $path),
            },
        )*];
    };
}

endpoint_table!(define_endpoints);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_path() {
        for endpoint in ENDPOINTS {
            let short = endpoint
                .path
                .trim_start_matches("/cgi-bin/externalcontact/");
            assert_eq!(endpoint.name, short.replace('/', "_"), "{endpoint:?}");
        }
    }

    #[test]
    fn get_endpoints_are_the_documented_ones() {
        let gets: Vec<_> = ENDPOINTS
            .iter()
            .filter(|e| e.method == HttpMethod::Get)
            .map(|e| e.name)
            .collect();
        assert_eq!(
            gets,
            [
                "get_follow_user_list",
                "list",
                "get",
                "get_moment_task_result"
            ]
        );
    }
}
